// Package deploy holds the tests of the deployment files beside it: the
// released model board, the compose environments, the compose end-to-end
// test (`make compose-test`), and the monitoring files (alert rules and
// their promtool unit tests, the Grafana dashboard, and an end-to-end alert
// through a real Prometheus scraping the real services).
package deploy
