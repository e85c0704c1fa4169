# Summarizes a results CSV over seeds: per (arch, method) the number of seeds, the mean and sample
# standard deviation of the accuracy column, and the mean paired difference to STE over the seeds
# both ran, with its standard error (seed-to-seed spread cancels in the pairs, so this is the number
# that says whether a method is ahead).
# Usage: awk -F, -v col=N [-v methods="ste irnet ..."] -f scripts/seed_summary.awk RESULTS.csv
# Columns: 2 arch, 3 method, 6 seed, 7 learning rate, col the accuracy in percent; line 1 a header.
NR > 1 {
  k = $2 SUBSEP $3
  if (!(k in n)) { keys[++m] = k }
  n[k]++; sum[k] += $col; sq[k] += $col * $col; acc[$2, $3, $6] = $col; lr[k] = $7; seeds[$6] = 1
}
END {
  printf "%-6s %-16s %5s %6s %8s %6s %s\n", "arch", "method", "seeds", "lr", "mean", "sd", "vs ste (paired)"
  if (methods != "") {
    # The order of `methods`, arch by arch.
    nm = split(methods, order, " "); j = 0
    for (i = 1; i <= m; i++) { split(keys[i], p, SUBSEP); if (!(p[1] in archs)) { archs[p[1]] = 1; alist[++na] = p[1] } }
    for (a = 1; a <= na; a++) for (o = 1; o <= nm; o++) if ((alist[a], order[o]) in n) sorted[++j] = alist[a] SUBSEP order[o]
    m = j
  } else {
    for (i = 1; i <= m; i++) sorted[i] = keys[i]
  }
  for (i = 1; i <= m; i++) {
    k = sorted[i]; split(k, p, SUBSEP); arch = p[1]; method = p[2]
    mean = sum[k] / n[k]
    sd = n[k] > 1 ? sqrt(max0(sq[k] - n[k] * mean * mean) / (n[k] - 1)) : 0
    line = sprintf("%-6s %-16s %5d %6s %7.2f%% %6.2f", arch, method, n[k], lr[k], mean, sd)
    if (method != "ste") {
      d = 0; dd = 0; c = 0
      for (s in seeds) if (((arch, method, s) in acc) && ((arch, "ste", s) in acc)) {
        x = acc[arch, method, s] - acc[arch, "ste", s]; d += x; dd += x * x; c++
      }
      if (c > 1) {
        md = d / c
        line = line sprintf(" %+6.2f +- %.2f over %d seeds", md, sqrt(max0(dd - c * md * md) / (c - 1) / c), c)
      }
    }
    print line
  }
}
function max0(x) { return x > 0 ? x : 0 }
