// The CLI's --help text, apart from the code that parses and runs it (src/cli.ts).
export const HELP = `callchart — actor-based call-control engine

Usage:
  callchart serve [options]     run the engine with the demo application
  callchart sign-url <url> --sub <principal> [--ttl <s>] [--scope <path>]
                                print <url> signed for <principal> (HMAC with
                                the auth secret, valid --ttl seconds, default 3600)
  callchart token --sub <principal> [--ttl <s>] [--scope <path>]
                                print a bearer token (Authorization: Bearer, or ?token=)
  callchart cluster dispatcher-list [--cluster <redis-url>] [--out <file>]
                                [--reload "<command>"] [--set <id>] [--watch <ms>]
                                write Kamailio's dispatcher list from the nodes
                                registered in Redis (stdout without --out); run
                                --reload (e.g. "kamcmd dispatcher.reload") when the
                                file changed; --watch repeats every <ms>
  callchart --help              show this help
  callchart --version           print the version

Options (environment variable in brackets):
  --host <addr>          address to bind (default 0.0.0.0)            [CALLCHART_HOST]
  --ws-port <port>       WebSocket/HTTP port (default 4143)            [CALLCHART_WS_PORT]
  --sip-port <port>      SIP UDP port (default 5060; 0 = an ephemeral  [CALLCHART_SIP_PORT]
                         port; "off" = no SIP)
  --no-sip               no SIP (the same as --sip-port off)
  --sip-workers <n>      serve SIP from n worker threads (or "auto":   [CALLCHART_SIP_WORKERS]
                         one per core); default 0 = on the main thread.
                         calls are sharded by Call-ID (README: "SIP
                         worker threads")
  --sip-users <list>     require digest authentication for inbound     [CALLCHART_SIP_USERS]
                         SIP calls: user:password[,user:password...]
                         (prefer the env var: a command line is visible
                         to every local user); default: no auth.
                         These users may also REGISTER (a call to a
                         registered user is connected to its phone)
  --sip-register <uri>   register to a provider/PBX and keep it        [CALLCHART_SIP_REGISTER]
                         registered: sip:user:password@host[:port]
                         (repeatable; env: comma-separated)
  --sip-realm <realm>    digest realm (default the --host address, or   [CALLCHART_SIP_REALM]
                         the machine's hostname when that is 0.0.0.0)
  --sip-max-pending <n>  inbound INVITEs ringing or awaiting their ACK  [CALLCHART_SIP_MAX_PENDING]
                         at once (default 1000); beyond: 503 Retry-After
  --sip-session-expires <s>                                             [CALLCHART_SIP_SESSION_EXPIRES]
                         RFC 4028 session timers: ask for this many
                         seconds in our INVITEs and 2xx (≥ 90; default
                         none asked; a caller's is honoured)
  --sip-100rel <mode>    RFC 3262 reliable provisionals: off,           [CALLCHART_SIP_100REL]
                         supported (default) or required
  --no-sip-unreliable-early-media                                       [CALLCHART_SIP_UNRELIABLE_EARLY_MEDIA=off]
                         no early media to a caller without 100rel:
                         its 183 carries no SDP answer (default: our
                         answer goes in an unreliable 183)
  --sip-tcp-port <port>  SIP over TCP on this port too (e.g. 5060;     [CALLCHART_SIP_TCP_PORT]
                         default: none)
  --sip-tls-port <port>  SIP over TLS on this port (e.g. 5061; needs   [CALLCHART_SIP_TLS_PORT]
                         --tls-cert and --tls-key; default: none)
  --tls-cert <file>      PEM certificate (chain) for SIP over TLS      [CALLCHART_TLS_CERT]
  --tls-key <file>       PEM private key for SIP over TLS              [CALLCHART_TLS_KEY]
  --sip-tag-secret-file <file>                                          [CALLCHART_SIP_TAG_SECRET_FILE]
                         secret (≥ 16 bytes) our INVITEs' From tags are
                         signed with; the same file after a restart lets
                         a late 2xx to an earlier INVITE be ACKed and
                         ended with a BYE (default: random per start)
  --sip-allow <list>     only these sources may send SIP: comma-       [CALLCHART_SIP_ALLOW]
                         separated addresses or CIDR blocks, IPv4 or
                         IPv6 (e.g. 10.0.0.0/8,192.0.2.7); others are
                         dropped silently. Default: everyone
  --sip-invite-rate <n>  new INVITEs per second per source before 503  [CALLCHART_SIP_INVITE_RATE]
                         + Retry-After, then silence (default 200;
                         "off" = no INVITE limit)
  --rtp-ports <a-b>      RTP port range (default 20000-29999)          [CALLCHART_RTP_PORTS]
  --strict-rtp <mode>    which source a call's RTP is taken from:      [CALLCHART_STRICT_RTP]
                         probation (default: the SDP address at once,
                         others, as behind NAT, after 4 packets in
                         sequence), strict (SDP address only), first
                         (first sender wins: RTP hijack, labs only)
  --strict-rtp-nat <h>   in probation mode, the hosts a NAT media      [CALLCHART_STRICT_RTP_NAT]
                         source may send from: signalling (default: the
                         SDP address's or the call's SIP source), any
                         (media relayed from a third host)
  --srtp <mode>          SRTP with SDES keys (AES_CM_128_HMAC_SHA1_80,  [CALLCHART_SRTP]
                         _32): off (default), optional (answer and
                         offer a=crypto, plain RTP to peers without),
                         required (no a=crypto: 488; offers RTP/SAVP)
  --log-level <level>    fatal|error|warn|info|debug|trace|silent      [CALLCHART_LOG_LEVEL]
                         (default info: one line per call offered,
                         answered and ended, with reason, SIP code,
                         duration, RTP stats and MOS)
  --log-format <f>       json|pretty (default pretty on a terminal,    [CALLCHART_LOG_FORMAT]
                         json otherwise)
  --sip-trace            log every SIP message sent and received,      [CALLCHART_SIP_TRACE]
                         with direction, address and Call-ID
  --hep <host:port>      send every SIP message to a Homer (HEP v3)    [CALLCHART_HEP]
                         collector over UDP
  --hep-id <n>           HEP capture agent id (default 2026)           [CALLCHART_HEP_ID]
  --max-calls <n>        concurrent call limit (default 10000)         [CALLCHART_MAX_CALLS]
  --inspect [filter]     serve the live statechart viewer at           [CALLCHART_INSPECT]
                         http://127.0.0.1:8080/inspect (works offline);
                         an optional filter (actor kind such as "call",
                         or a call-id prefix) limits it to those actors.
                         It shows call data, caller numbers included
  --inspect-port <port>  viewer port (default 8080)                    [CALLCHART_INSPECT_PORT]
  --inspect-host <addr>  viewer bind address (default 127.0.0.1); any  [CALLCHART_INSPECT_HOST]
                         other than loopback needs --inspect-token
  --inspect-token <t>    require this token (16+ chars): open          [CALLCHART_INSPECT_TOKEN]
                         /inspect?token=<t> once, or send
                         "Authorization: Bearer <t>". Prefer the env var
                         (flags show in ps)
  --inspect-stately      also serve Stately's inspector at             [CALLCHART_INSPECT_STATELY]
                         /inspect/stately: that page loads the stately.ai
                         app (internet needed) and hands it the events
  --data-dir <dir>       where playback sessions persist and jambonz   [CALLCHART_DATA_DIR]
                         recordings are written (<dir>/recordings)
                         (default ./data)
  --jambonz-app <url>    be the jambonz feature-server: every inbound   [CALLCHART_JAMBONZ_APP]
                         SIP call opens ws.jambonz.org to this ws(s)://
                         app and runs its verbs (docs/jambonz.md
                         "Feature-server"); not with --sip-workers
  --jambonz-tts <cmd>    the say verb's speech: a command writing a WAV [CALLCHART_JAMBONZ_TTS]
                         to {file} for {text} (also {voice},
                         {language}), e.g. "espeak-ng -w {file} {text}";
                         run without a shell. Default: say is skipped
  --jambonz-phone-trunk <host[:port]>                                   [CALLCHART_JAMBONZ_PHONE_TRUNK]
                         where the dial verb's phone targets go
                         (sip:<number>@host[:port]); default: refused
  --public-ws-url <url>  how jambonz reaches this server, for the demo  [CALLCHART_PUBLIC_WS_URL]
                         IVR's listen verb (default ws://HOST:PORT)
  --auth-secret <s>      require credentials on every WebSocket route  [CALLCHART_AUTH_SECRET]
                         and every HTTP route but /status: tokens and
                         signed URLs made with this secret (16+ chars;
                         prefer the env var: argv is visible to others)
  --auth-user <u:pw>     also accept HTTP Basic for user u (repeatable; [CALLCHART_AUTH_USERS]
                         the env var takes u:pw,u2:pw2); jambonz sends
                         it when its application has a username/password
  --ws-max-connections <n>
                         open sockets on the WS port (default 10000,    [CALLCHART_WS_MAX_CONNECTIONS]
                         0 = no cap); beyond it, HTTP 503
  --ws-max-connections-per-ip <n>
                         open sockets from one address (default 5000,   [CALLCHART_WS_MAX_CONNECTIONS_PER_IP]
                         0 = no cap); beyond it, HTTP 503
  --ws-handshake-timeout <ms>
                         time a socket has to send a complete request   [CALLCHART_WS_HANDSHAKE_TIMEOUT]
                         or upgrade (default 5000)
  --ws-allowed-origins <list>
                         comma-separated browser origins allowed to     [CALLCHART_WS_ALLOWED_ORIGINS]
                         open WebSockets (default any); others get 403
  --metrics-port <port>  also serve GET /metrics and /health alone on    [CALLCHART_METRICS_PORT]
                         this port (0 = ephemeral); /metrics is on the
                         WebSocket port anyway (docs/operations.md)
  --metrics on|off       Prometheus metrics (default on)               [CALLCHART_METRICS]
  --admin-token <t>      enable POST /admin/drain and /admin/resume     [CALLCHART_ADMIN_TOKEN]
                         with "Authorization: Bearer <t>" (16+ chars)
  --stream-url <url>     stream every SIP call to this voice bot        [CALLCHART_STREAM_URL]
                         (ws:// or wss://) in Twilio's Media Streams
                         format, both ways, instead of echoing it; the
                         call hangs up when the bot is gone (README:
                         "Connect a phone call to your voice bot")
  --cluster <redis-url>  join a cluster through Redis (docs/scaling.md): [CALLCHART_CLUSTER]
                         redis://[:password@]host:port[/db]; the node
                         registers its SIP/WS addresses with a heartbeat,
                         reports draining, leaves on shutdown
  --node-id <id>         this node's id in the cluster                  [CALLCHART_NODE_ID]
                         (default <hostname>-<pid>)
  --advertise-host <h>   the address peers and Kamailio reach this node [CALLCHART_ADVERTISE_HOST]
                         at (default --host, or 127.0.0.1 for 0.0.0.0)
  --cluster-prefix <p>   Redis key prefix (default "callchart:")        [CALLCHART_CLUSTER_PREFIX]
  -h, --help             show this help

Demo application (inbound-call protocol on ws://HOST:4143/):
  connect -> ~1 s -> {"event":"incoming_call","sessionId":...}
          -> ~5 s -> {"event":"answer"}; binary frames are echoed back
          -> ~10 s -> {"event":"hangup"} and the socket closes
  client may send {"event":"dtmf","sessionId","digit"} and {"event":"hangup","sessionId"}
Also on the WebSocket port:
  ws://HOST:4143/rooms/<roomId>   shared counter room: send "increment"/"decrement"
  ws://HOST:4143/playback         MoosicBox-compatible playback sessions
  ws://HOST:4143/hook             jambonz call hook (ws.jambonz.org): greeting, one digit,
                                  1 records the caller through listen -> /recording
  ws://HOST:4143/recording        jambonz audio (audio.jambonz.org): one WAV per stream
                                  in <data-dir>/recordings
  GET /status, GET /rooms
  GET /health (JSON; 503 while draining; with --cluster, cluster.state is
    live, or degraded while Redis is unreachable), GET /metrics (Prometheus)
Signals: SIGTERM/SIGINT shut down (live calls are hung up); SIGUSR1 drains: new
calls are refused, live calls finish, then the process exits 0.
With --auth-secret, every route above but GET /status and /health needs credentials (a token from
"callchart token", a URL from "callchart sign-url", or --auth-user basic auth); see the
README section "WebSocket security".
SIP on udp/5060: calls are answered at once and hear their own audio (echo), or talk to
the bot at --stream-url.
`;
