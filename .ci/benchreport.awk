# Summarises `go test -bench` output: the median of each benchmark's runs,
# set against the targets and against the baseline measured in the same run.
/^Benchmark/ {
	name = $1; sub(/-[0-9]+$/, "", name)
	for (i = 2; i < NF; i++) {
		if ($(i+1) == "ns/op") ns[name, ++n[name]] = $i
		if ($(i+1) == "rows/s") rows[name, n[name]] = $i
		if ($(i+1) == "allocs/op") allocs[name] = $i
	}
}
function median(arr, name, k,   i, j, t, v) {
	for (i = 1; i <= k; i++) v[i] = arr[name, i]
	for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
	return v[int((k + 1) / 2)]
}
END {
	print ""
	print "== figures (median of runs) =="
	p = "BenchmarkPredict"; if (n[p]) printf "domain Predict:            %8.1f ns/op, %s allocs/op (target 0 allocs: %s)\n", median(ns, p, n[p]), allocs[p], (allocs[p] == 0 ? "met" : "MISSED")
	one = "BenchmarkPredictHandler/rows=1"
	if (n[one]) { us = median(ns, one, n[one]) / 1000; printf "/predict, 1 row:           %8.1f µs/op (target < 20 µs: %s, %.2fx of target)\n", us, (us < 20 ? "met" : "MISSED"), us / 20 }
	big = "BenchmarkPredictHandler/rows=10000"; base = "BenchmarkBaselineStdlib10k"
	if (n[big]) {
		r = median(rows, big, n[big])
		printf "/predict, 10,000 rows:     %8.0f rows/s (target >= 1,000,000: %s, %.2fx of target)\n", r, (r >= 1e6 ? "met" : "MISSED"), r / 1e6
		if (n[base]) { b = median(rows, base, n[base]); printf "baseline encoding/json:    %8.0f rows/s (handler is %.2fx the baseline, end to end)\n", b, r / b }
	}
}
