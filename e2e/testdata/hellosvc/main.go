// Command hellosvc is the tiny HTTP service the e2e tests install as a
// host service: GET /health answers "ok <version>", GET /info tells what
// the process sees (user, arguments, its config file, whether it can
// write its working directory). Build it with
// -ldflags "-X main.version=1.0.0".
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
)

var version = "dev"

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	config := flag.String("config", "", "configuration file; the service exits if it cannot read it")
	flag.Parse()
	var conf []byte
	if *config != "" {
		b, err := os.ReadFile(*config)
		if err != nil {
			log.Fatalf("hellosvc %s: %v", version, err)
		}
		conf = b
	}
	cwd, _ := os.Getwd()
	// The working directory is the service's StateDirectory.
	writeErr := ""
	if err := os.WriteFile("started-by", []byte(version+"\n"), 0o600); err != nil {
		writeErr = err.Error()
	}
	info := map[string]any{
		"version": version, "uid": os.Getuid(), "gid": os.Getgid(), "args": flag.Args(),
		"config": string(conf), "cwd": cwd, "write_error": writeErr, "pid": os.Getpid(),
	}
	http.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "ok %s", version)
	})
	http.HandleFunc("/info", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(info)
	})
	log.Printf("hellosvc %s listening on %s", version, *addr)
	log.Fatal(http.ListenAndServe(*addr, nil))
}
