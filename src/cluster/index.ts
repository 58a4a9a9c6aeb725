export { ClusterMember, defaultNodeId, type ClusterOptions, type ClusterHealth, type ClusterMemberState } from './member.js';
export { ClusterStore, type ClusterNodeRecord, type ClusterStoreOptions } from './store.js';
export { dispatcherList, syncDispatcher, type DispatcherListOptions, type DispatcherSyncOptions } from './dispatcher-sync.js';
