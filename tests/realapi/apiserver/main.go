// A real kube-apiserver (k8s.io/kubernetes cmd/kube-apiserver/app) with an embedded etcd, for the realapi test
// tier. Built from Go modules by scripts/apiserver; nothing prebuilt is downloaded.
//
//	apiserver --etcd-dir DIR --etcd-client-port P --etcd-peer-port Q -- [kube-apiserver flags]
//
// etcd listens on loopback only; kube-apiserver gets --etcd-servers pointing at it.
package main

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	flags := flag.NewFlagSet("apiserver", flag.ExitOnError)
	dir := flags.String("etcd-dir", "", "etcd's data folder")
	clientPort := flags.Int("etcd-client-port", 0, "etcd's client port on 127.0.0.1")
	peerPort := flags.Int("etcd-peer-port", 0, "etcd's peer port on 127.0.0.1")
	if err := flags.Parse(os.Args[1:]); err != nil || *dir == "" || *clientPort == 0 || *peerPort == 0 {
		fmt.Fprintln(os.Stderr, "usage: apiserver --etcd-dir DIR --etcd-client-port P --etcd-peer-port Q -- [kube-apiserver flags]")
		os.Exit(2)
	}
	client := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", *clientPort)}
	peer := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", *peerPort)}
	cfg := embed.NewConfig()
	cfg.Dir = *dir
	cfg.LogLevel = "error"
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = fmt.Sprintf("%s=%s", cfg.Name, peer.String())
	etcd, err := embed.StartEtcd(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "etcd: %v\n", err)
		os.Exit(1)
	}
	select {
	case <-etcd.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		fmt.Fprintln(os.Stderr, "etcd: not ready after 60s")
		os.Exit(1)
	}
	command := app.NewAPIServerCommand()
	command.SetArgs(append([]string{"--etcd-servers=" + client.String()}, flags.Args()...))
	code := cli.Run(command)
	etcd.Close()
	os.Exit(code)
}
