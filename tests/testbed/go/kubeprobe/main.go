// kubeprobe is an in-cluster client for the node's e2e test: it calls the apiserver the
// way a controller in a Pod does (KUBERNETES_SERVICE_HOST/PORT, the projected
// ServiceAccount token and ca.crt) and prints one line per path: "<status> <path>".
// Then it sleeps, so the Pod stays Running while the test reads its log.
//
//	kubeprobe /api/v1/namespaces/x/pods /api/v1/namespaces/kube-system/secrets
package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

const serviceAccount = "/var/run/secrets/kubernetes.io/serviceaccount"

func main() {
	client, err := inClusterClient()
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	base := "https://" + net.JoinHostPort(os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT"))
	token, err := os.ReadFile(serviceAccount + "/token")
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	for _, path := range os.Args[1:] {
		fmt.Println(get(client, base+path, string(token)), path)
	}
	for {
		time.Sleep(time.Hour)
	}
}

func inClusterClient() (*http.Client, error) {
	caPEM, err := os.ReadFile(serviceAccount + "/ca.crt")
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("no certificate in %s/ca.crt", serviceAccount)
	}
	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	return &http.Client{Transport: transport, Timeout: 10 * time.Second}, nil
}

// get returns the HTTP status code, or the error's text when there was no response.
func get(client *http.Client, url, token string) string {
	request, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err.Error()
	}
	request.Header.Set("Authorization", "Bearer "+token)
	response, err := client.Do(request)
	if err != nil {
		return "error:" + err.Error()
	}
	defer response.Body.Close()
	_, _ = io.Copy(io.Discard, response.Body)
	return fmt.Sprint(response.StatusCode)
}
