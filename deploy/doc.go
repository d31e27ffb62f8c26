// Package deploy holds the tests of the deployment files beside it: the
// released model board and its champion, the compose environments, the
// compose end-to-end test (`make compose-test`, with a promotion and a
// rollback in the model store volume under load), the Kubernetes overlays'
// invariants (the shared model store among them), and the monitoring files
// (alert rules and their promtool unit tests, the Grafana dashboard, and an
// end-to-end alert through a real Prometheus scraping the real services).
package deploy
