//! RED statistics shared by every place that shows them: one definition of
//! a latency percentile for the live view and the stored session.
//!
//! The store computes percentiles in DuckDB with `quantile_cont` (its
//! `endpoints_v` and `endpoint_stats`); the live view computes them here,
//! the same way, so that the p99 of an endpoint is the same number live, in
//! `dflow replay` and in `dflow query`.

/// The `q` quantile (0 ≤ q ≤ 1) of `sorted` (ascending), interpolated
/// between the two nearest values as DuckDB's `quantile_cont` does: at
/// position `q × (n − 1)`. 0 for no values.
pub fn quantile_cont(sorted: &[i64], q: f64) -> f64 {
    let Some(&last) = sorted.last() else {
        return 0.0;
    };
    let at = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let below = at.floor() as usize;
    let Some(&above) = sorted.get(below + 1) else {
        return last as f64;
    };
    let low = sorted[below] as f64;
    low + (at - below as f64) * (above as f64 - low)
}

/// [`quantile_cont`] of latencies in ns, rounded to a whole ns.
pub fn latency_quantile(sorted_ns: &[i64], q: f64) -> i64 {
    quantile_cont(sorted_ns, q).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_between_the_nearest_values() {
        assert_eq!(quantile_cont(&[], 0.99), 0.0);
        assert_eq!(quantile_cont(&[7], 0.99), 7.0);
        let ten: Vec<i64> = (1..=10).collect();
        assert_eq!(quantile_cont(&ten, 0.5), 5.5);
        assert!((quantile_cont(&ten, 0.99) - 9.91).abs() < 1e-9);
        assert_eq!(quantile_cont(&ten, 1.0), 10.0);
        assert_eq!(quantile_cont(&ten, 0.0), 1.0);
    }

    /// The live view's percentiles are DuckDB's: the same values through
    /// `quantile_cont` in SQL give the same numbers.
    #[test]
    fn agrees_with_duckdb() {
        let db = duckdb::Connection::open_in_memory().unwrap();
        db.execute_batch("CREATE TABLE t (v BIGINT)").unwrap();
        // Skewed latencies, as real ones are: many fast, a slow tail.
        let mut values: Vec<i64> = (0..997i64)
            .map(|i| (i * 7919 % 1000) * (i * 31 % 7 + 1) * 1_000 + i % 13)
            .collect();
        {
            let mut insert = db.prepare("INSERT INTO t VALUES (?)").unwrap();
            for v in &values {
                insert.execute([v]).unwrap();
            }
        }
        values.sort_unstable();
        for q in [0.0, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0] {
            let sql: f64 = db
                .query_row(
                    &format!("SELECT quantile_cont(v, {q})::DOUBLE FROM t"),
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            let ours = quantile_cont(&values, q);
            assert!(
                (sql - ours).abs() < 1e-6,
                "q={q}: DuckDB {sql}, ours {ours}"
            );
        }
    }
}
