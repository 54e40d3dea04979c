package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/cutover-dev/cutover/controller"
)

func newDashboardCmd(k *kubeFlags) *cobra.Command {
	addr := "127.0.0.1:3100"
	cmd := &cobra.Command{
		Use:   "dashboard",
		Short: "Serve the web dashboard for the namespace's Cutovers on this machine",
		Long: `Serves the dashboard of cutover serve for the Cutover resources of a
namespace, as kubectl argo rollouts dashboard does for Rollouts: plans,
steps and verdicts from their status, the controller's Events, and the
plan commands, sent through the annotation the CLI uses. It listens on
loopback and prints a link holding a token made for this run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := k.client()
			if err != nil {
				return err
			}
			b := make([]byte, 16)
			rand.Read(b)
			d := &controller.Dashboard{Client: c, Token: hex.EncodeToString(b), Log: slog.Default(), Timeout: k.timeout}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			srv := &http.Server{Handler: d.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 64 << 10}
			fmt.Fprintf(cmd.OutOrStdout(), "cutover dashboard for namespace %s:\n  http://%s/ui/#token=%s\n", c.Namespace, ln.Addr(), d.Token)
			go func() {
				<-cmd.Context().Done()
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				srv.Shutdown(ctx)
			}()
			if err := srv.Serve(ln); err != http.ErrServerClosed {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "address", addr, "where to listen; keep it on loopback")
	return cmd
}
