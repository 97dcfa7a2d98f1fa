// Command livenessprobe is the cluster test bed's stand-in for the Kubernetes livenessprobe
// sidecar: GET /healthz calls the CSI driver's Identity.Probe and answers 200 when the
// driver is ready, 500 otherwise. It accepts the chart's flags.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"time"

	csi "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func main() {
	csiAddress := flag.String("csi-address", "/run/csi/socket", "CSI socket inside this container")
	endpoint := flag.String("http-endpoint", ":9808", "address of the /healthz endpoint")
	timeout := flag.Duration("probe-timeout", 10*time.Second, "timeout of one Probe call")
	flag.Int("v", 2, "log verbosity (accepted for compatibility)")
	flag.Parse()
	conn, err := grpc.NewClient("unix://"+*csiAddress, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatalf("grpc client: %v", err)
	}
	client := csi.NewIdentityClient(conn)
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), *timeout)
		defer cancel()
		resp, err := client.Probe(ctx, &csi.ProbeRequest{})
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintf(w, "probe failed: %v\n", err)
			return
		}
		if ready := resp.GetReady(); ready != nil && !ready.GetValue() {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintln(w, "driver not ready")
			return
		}
		fmt.Fprintln(w, "ok")
	})
	log.Printf("serving /healthz on %s for %s", *endpoint, *csiAddress)
	log.Fatal(http.ListenAndServe(*endpoint, nil))
}
