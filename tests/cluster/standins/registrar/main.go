// Command csi-node-driver-registrar is the cluster test bed's stand-in for the Kubernetes
// node-driver-registrar sidecar. It speaks the same kubelet plugin-registration API
// (k8s.io/kubelet/pkg/apis/pluginregistration/v1): it asks the CSI driver its name
// (Identity.GetPluginInfo), then serves Registration.GetInfo/NotifyRegistrationStatus on
// <plugin-registration-path>/<driver>-reg.sock, where kubelet's plugin watcher finds it.
// It accepts the chart's flags; --mode=kubelet-registration-probe exits 0 once kubelet has
// confirmed the registration (a stamp file next to the CSI socket), 1 otherwise.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	csi "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

type server struct {
	registerapi.UnimplementedRegistrationServer
	driver   string
	endpoint string
	stamp    string
}

func (s *server) GetInfo(ctx context.Context, req *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	return &registerapi.PluginInfo{
		Type:              registerapi.CSIPlugin,
		Name:              s.driver,
		Endpoint:          s.endpoint,
		SupportedVersions: []string{"1.0.0"},
	}, nil
}

func (s *server) NotifyRegistrationStatus(ctx context.Context, st *registerapi.RegistrationStatus) (*registerapi.RegistrationStatusResponse, error) {
	if !st.PluginRegistered {
		log.Printf("kubelet refused the registration: %s", st.Error)
		_ = os.Remove(s.stamp)
		os.Exit(1)
	}
	log.Printf("registered with kubelet as %s", s.driver)
	if err := os.WriteFile(s.stamp, []byte(s.driver+"\n"), 0o644); err != nil {
		log.Printf("cannot write %s: %v", s.stamp, err)
	}
	return &registerapi.RegistrationStatusResponse{}, nil
}

func driverName(address string) string {
	for {
		conn, err := grpc.NewClient("unix://"+address, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			info, err2 := csi.NewIdentityClient(conn).GetPluginInfo(ctx, &csi.GetPluginInfoRequest{})
			cancel()
			_ = conn.Close()
			if err2 == nil && info.GetName() != "" {
				return info.GetName()
			}
			err = err2
		}
		log.Printf("waiting for the CSI driver at %s: %v", address, err)
		time.Sleep(2 * time.Second)
	}
}

func main() {
	csiAddress := flag.String("csi-address", "/run/csi/socket", "CSI socket inside this container")
	kubeletPath := flag.String("kubelet-registration-path", "", "the CSI socket's path on the node (told to kubelet)")
	regDir := flag.String("plugin-registration-path", "/registration", "kubelet's plugins_registry directory")
	mode := flag.String("mode", "registration", "registration | kubelet-registration-probe")
	flag.Int("v", 2, "log verbosity (accepted for compatibility)")
	flag.Parse()
	stamp := filepath.Join(filepath.Dir(*csiAddress), "registration")
	if *mode == "kubelet-registration-probe" {
		if _, err := os.Stat(stamp); err != nil {
			fmt.Fprintf(os.Stderr, "kubelet has not confirmed the registration: %v\n", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if *kubeletPath == "" {
		log.Fatal("--kubelet-registration-path is required")
	}
	_ = os.Remove(stamp)
	driver := driverName(*csiAddress)
	sock := filepath.Join(*regDir, driver+"-reg.sock")
	_ = os.Remove(sock)
	lis, err := net.Listen("unix", sock)
	if err != nil {
		log.Fatalf("listen %s: %v", sock, err)
	}
	g := grpc.NewServer()
	registerapi.RegisterRegistrationServer(g, &server{driver: driver, endpoint: *kubeletPath, stamp: stamp})
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		g.Stop()
		_ = os.Remove(sock)
		os.Exit(0)
	}()
	log.Printf("serving plugin registration of %s on %s", driver, sock)
	if err := g.Serve(lis); err != nil {
		log.Fatalf("serve: %v", err)
	}
}
