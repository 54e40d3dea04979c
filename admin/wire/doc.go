// Package wire holds the admin API's requests and answers and its client:
// what the gateway, the API server, the CLI and other replicas' routers
// all speak, in one small package none of them has to import the others
// for.
package wire
