package templates

import (
	"fmt"
	"strings"

	"github.com/cutover-dev/cutover/manifest/config"
)

// The gateway's access-log pipeline (handbook §10): nginx in front of the
// gateway logs each request as JSON over syslog to a unix datagram socket
// in an emptyDir the two sidecars share; fluent-bit reads the socket
// (not a tailed container log, which stopped under high rps, §10.1.3),
// parses syslog then JSON, derives the file from the day and the virtual
// host, and writes one file per host and day for the existing collector.
const (
	// LogSocket is nginx's syslog target and fluent-bit's input.
	LogSocket = "/tmp/sidecar-nginx/sys-log.sock"
	// GatewayNginxPort is where nginx takes the gateway's traffic.
	GatewayNginxPort = 8081
	// DefaultAccessLogDirectory is where the files go on the gateway node.
	DefaultAccessLogDirectory = "/var/log/ingress-access"
)

// accessLogDirectory is the environment's log directory.
func accessLogDirectory(a *config.AccessLog) string {
	if a != nil && a.Directory != "" {
		return a.Directory
	}
	return DefaultAccessLogDirectory
}

// gatewayNginxConfig proxies to the gateway on upstreamPort and logs JSON
// with the named cookies, which is why the handbook logs with nginx
// (§10.1.1): Envoy would need Lua for them.
func gatewayNginxConfig(upstreamPort int, a *config.AccessLog) string {
	var cookies strings.Builder
	if a != nil {
		for _, c := range a.Cookies {
			fmt.Fprintf(&cookies, `,"cookie_%s":"$cookie_%s"`, c, c)
		}
	}
	return fmt.Sprintf(`worker_processes auto;
events { worker_connections 4096; }
http {
  log_format json_access escape=json '{"time":"$time_iso8601","remote_addr":"$remote_addr",'
    '"vhost":"$host","method":"$request_method","uri":"$request_uri","status":$status,'
    '"bytes":$body_bytes_sent,"request_time":$request_time,"upstream_time":"$upstream_response_time",'
    '"user_agent":"$http_user_agent","request_id":"$http_x_request_id"%s}';
  access_log syslog:server=unix:%s,tag=nginx json_access;
  server {
    listen %d;
    location / {
      proxy_pass http://127.0.0.1:%d;
      proxy_http_version 1.1;
      proxy_set_header Host $host;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
}
`, cookies.String(), LogSocket, GatewayNginxPort, upstreamPort)
}

// fluentBitConfig reads nginx's syslog socket (handbook §10.2.2): syslog,
// then the JSON message, then the day and host become the record's tag,
// which is the file it is written to.
func fluentBitConfig(dir string) map[string]string {
	return map[string]string{
		"fluent-bit.conf": fmt.Sprintf(`[SERVICE]
    Flush        1
    Grace        120
    Daemon       off
    Parsers_File parsers.conf
    HTTP_Server  On
    HTTP_Listen  0.0.0.0
    HTTP_Port    2020
    Log_Level    info

[INPUT]
    Name         syslog
    Tag          kube.*
    Mode         unix_udp
    Path         %s
    Unix_Perm    0666
    Parser       syslog-rfc3164-local

[FILTER]
    Name         parser
    Match        kube.*
    Key_Name     message
    Preserve_Key true
    Reserve_Data true
    Parser       json

[FILTER]
    Name         lua
    Match        kube.*
    script       create-log-file-path.lua
    call         create_log_file_path

[FILTER]
    Name         rewrite_tag
    Match        kube.*
    Rule         $log_file_path ^(.*)$ %s/$log_file_path false

[OUTPUT]
    Name         file
    Match        %s/*
    Format       plain
    Mkdir        true
`, LogSocket, dir, dir),
		"parsers.conf": `[PARSER]
    Name         syslog-rfc3164-local
    Format       regex
    Regex        ` + SyslogRegex + `
    Time_Key     time
    Time_Format  %b %d %H:%M:%S
    Time_Keep    On

[PARSER]
    Name         json
    Format       json
`,
		"create-log-file-path.lua": CreateLogFilePathLua,
	}
}

// SyslogRegex parses nginx's RFC 3164 syslog lines; written so that
// fluent-bit's Onigmo and Go's regexp read it alike.
const SyslogRegex = `^<(?<pri>[0-9]+)>(?<time>[^ ]* {1,2}[^ ]* [^ ]*) (?<ident>[a-zA-Z0-9_/.-]*)(?:\[(?<pid>[0-9]+)\])?(?:[^:]*:)? *(?<message>.*)$`

// CreateLogFilePathLua names a record's file: <day>/<virtual host>.log.
// The host comes from the client's Host header, so everything but
// letters, digits, dots and dashes becomes _: no slash, so no way out of
// the log directory.
const CreateLogFilePathLua = `function create_log_file_path(tag, timestamp, record)
    local host = record["vhost"]
    if type(host) ~= "string" or host == "" then
        host = "unknown"
    end
    host = string.gsub(host, "[^%w%.%-]", "_")
    record["log_file_path"] = os.date("!%Y-%m-%d", math.floor(timestamp)) .. "/" .. host .. ".log"
    return 1, timestamp, record
end
`
