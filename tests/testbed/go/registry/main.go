// registry is the test bed's OCI registry: go-containerregistry's in-memory registry
// served on a loopback port, so Crossplane fetches packages from it and the node's
// containerd pulls images from it, without anything leaving the machine.
//
//	registry serve -addr 127.0.0.1:0 -port-file <path>
//	registry push <tarball> <reference>
//
// serve writes the port it listens on to -port-file once it accepts connections. push
// uploads an image tarball (`docker save` format, e.g. an .xpkg) with its blobs exactly as
// they are: a Crossplane package names its package layer by digest, so a client that
// recompresses layers on the way (skopeo does) breaks it.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func main() {
	if len(os.Args) < 2 {
		log.Fatal("usage: registry serve|push ...")
	}
	switch os.Args[1] {
	case "serve":
		serve(os.Args[2:])
	case "push":
		if len(os.Args) != 4 {
			log.Fatal("usage: registry push <tarball> <reference>")
		}
		push(os.Args[2], os.Args[3])
	default:
		log.Fatalf("unknown command %q", os.Args[1])
	}
}

func serve(args []string) {
	flags := flag.NewFlagSet("serve", flag.ExitOnError)
	addr := flags.String("addr", "127.0.0.1:0", "loopback address to listen on")
	portFile := flags.String("port-file", "", "file to write the port to once listening")
	_ = flags.Parse(args)

	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		log.Fatalf("-addr %q: %v", *addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		// Nothing here may be reachable from outside the machine.
		log.Fatalf("-addr %q: not a loopback IP address", *addr)
	}
	listener, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	port := listener.Addr().(*net.TCPAddr).Port
	if *portFile != "" {
		if err := os.WriteFile(*portFile, []byte(strconv.Itoa(port)+"\n"), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	log.Printf("serving on %s", listener.Addr())
	server := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: registry.New()}
	log.Fatal(server.Serve(listener))
}

func push(path, reference string) {
	// name.Insecure: plain HTTP; the registry only ever listens on loopback.
	ref, err := name.ParseReference(reference, name.Insecure)
	if err != nil {
		log.Fatalf("%s: %v", reference, err)
	}
	image, err := tarball.ImageFromPath(path, nil)
	if err != nil {
		log.Fatalf("%s: %v", path, err)
	}
	if err := remote.Write(ref, image); err != nil {
		log.Fatalf("push %s: %v", reference, err)
	}
	digest, err := image.Digest()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ref.Context().Digest(digest.String()).String())
}
