package templates

// nginxConfig is the ingress gateway's access-log sidecar (handbook §10.2.1):
// it proxies to the gateway and logs JSON to fluent-bit over a unix socket.
const nginxConfig = `worker_processes auto;
events { worker_connections 4096; }
http {
  log_format json_access escape=json '{"time":"$time_iso8601","remote_addr":"$remote_addr",'
    '"host":"$host","method":"$request_method","uri":"$request_uri","status":$status,'
    '"bytes":$body_bytes_sent,"request_time":$request_time,"upstream_time":"$upstream_response_time",'
    '"user_agent":"$http_user_agent","request_id":"$http_x_request_id"}';
  access_log syslog:server=unix:/tmp/sidecar-nginx/sys-log.sock json_access;
  server {
    listen 8081;
    location / {
      proxy_pass http://127.0.0.1:8080;
      proxy_http_version 1.1;
      proxy_set_header Host $host;
      proxy_set_header Connection "";
    }
  }
}
`

// fluentBitConfig reads nginx's syslog socket and writes JSON lines
// (handbook §10.2.2).
const fluentBitConfig = `[SERVICE]
    Flush        1
    Grace        120
    Daemon       off
    HTTP_Server  On
    HTTP_Listen  0.0.0.0
    HTTP_Port    2020

[INPUT]
    Name         syslog
    Mode         unix_udp
    Path         /tmp/sidecar-nginx/sys-log.sock
    Unix_Perm    0666
    Parser       syslog-rfc3164-local

[OUTPUT]
    Name         stdout
    Match        *
    Format       json_lines
`
