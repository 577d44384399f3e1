//! Query results as an aligned table, CSV (RFC 4180) or a JSON array of
//! objects, one per row.
//!
//! The aligned table is for reading: cells and headers are clipped to a
//! width and floats are rounded to six significant digits. CSV and JSON are
//! for programs and keep every value whole, floats at full precision.

use std::io::{self, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use duckdb::types::{TimeUnit, Value};
use serde_json::Value as Json;

use crate::output::{Palette, paint};
use crate::store::reader::Table;

/// Longest cell or header shown in the aligned table when no narrower
/// width is asked for; longer ones end in `…`.
pub const MAX_CELL: usize = 80;

/// The longest cell for stdout: its width when it is a terminal narrower
/// than [`MAX_CELL`], else that.
pub fn max_cell_for_stdout() -> usize {
    use std::io::IsTerminal as _;
    if !std::io::stdout().is_terminal() {
        return MAX_CELL;
    }
    ratatui::crossterm::terminal::size()
        .map_or(MAX_CELL, |(columns, _)| usize::from(columns).min(MAX_CELL))
}

/// Significant digits of a float in the aligned table: enough to tell
/// 44.5483 ms from 44.5484, without the binary noise of the 17 that a
/// round trip needs (`44.548281399999915`).
const FLOAT_DIGITS: usize = 6;

fn to_ns(unit: TimeUnit, v: i64) -> i128 {
    let v = i128::from(v);
    match unit {
        TimeUnit::Second => v * 1_000_000_000,
        TimeUnit::Millisecond => v * 1_000_000,
        TimeUnit::Microsecond => v * 1_000,
        TimeUnit::Nanosecond => v,
    }
}

fn timestamp(ns: i128) -> String {
    match u64::try_from(ns) {
        Ok(ns) => humantime::format_rfc3339_nanos(UNIX_EPOCH + Duration::from_nanos(ns))
            .to_string()
            .replace(".000000000Z", "Z"),
        Err(_) => format!("{ns} ns before 1970"),
    }
}

/// Days since 1970-01-01 → `YYYY-MM-DD` (Howard Hinnant's civil_from_days).
fn date(days: i32) -> String {
    let z = i64::from(days) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn time_of_day(ns: i128) -> String {
    let secs = ns / 1_000_000_000;
    let frac = ns % 1_000_000_000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if frac == 0 {
        format!("{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}.{:06}", frac / 1000)
    }
}

/// A value as text (NULL as the empty string; callers decide how to show it),
/// floats at full precision.
pub fn text(v: &Value) -> String {
    render(v, Floats::Full)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Floats {
    /// Every digit a round trip needs.
    Full,
    /// [`FLOAT_DIGITS`] significant digits, for reading.
    Readable,
}

/// A float to [`FLOAT_DIGITS`] significant digits without trailing zeros
/// (`44.5483`, `250.25`, `0.000123457`), its integer part whole below 1e15
/// (`1234568`), and in exponent form from there or below 1e-4 (`1.5e20`).
fn readable_float(f: f64) -> String {
    if f == 0.0 {
        return "0".to_owned();
    }
    if !f.is_finite() {
        return f.to_string();
    }
    // The exponent after rounding, which can carry into a new digit
    // (9.9999996 → 10).
    let scientific = format!("{f:.*e}", FLOAT_DIGITS - 1);
    let exponent: i32 = scientific
        .rsplit_once('e')
        .and_then(|(_, e)| e.parse().ok())
        .unwrap_or(0);
    let text = if (-4..15).contains(&exponent) {
        let decimals = usize::try_from(FLOAT_DIGITS as i32 - 1 - exponent).unwrap_or(0);
        format!("{f:.decimals$}")
    } else {
        scientific
    };
    trim_zeros(&text)
}

/// `44.5000` → `44.5`, `2.000` → `2`, `1.50000e20` → `1.5e20`.
fn trim_zeros(s: &str) -> String {
    let (mantissa, exp) = s.split_once('e').map_or((s, None), |(m, e)| (m, Some(e)));
    let mantissa = if mantissa.contains('.') {
        mantissa.trim_end_matches('0').trim_end_matches('.')
    } else {
        mantissa
    };
    match exp {
        Some(e) => format!("{mantissa}e{e}"),
        None => mantissa.to_owned(),
    }
}

fn render(v: &Value, floats: Floats) -> String {
    let float = |f: f64| match floats {
        Floats::Full => f.to_string(),
        Floats::Readable => readable_float(f),
    };
    let text = |v: &Value| render(v, floats);
    match v {
        Value::Null => String::new(),
        Value::Boolean(b) => b.to_string(),
        Value::TinyInt(n) => n.to_string(),
        Value::SmallInt(n) => n.to_string(),
        Value::Int(n) => n.to_string(),
        Value::BigInt(n) => n.to_string(),
        Value::HugeInt(n) => n.to_string(),
        Value::UHugeInt(n) => n.to_string(),
        Value::UTinyInt(n) => n.to_string(),
        Value::USmallInt(n) => n.to_string(),
        Value::UInt(n) => n.to_string(),
        Value::UBigInt(n) => n.to_string(),
        // f32 → f64 is exact, and f32's own shortest form is what Full shows.
        Value::Float(f) if floats == Floats::Full => f.to_string(),
        Value::Float(f) => float(f64::from(*f)),
        Value::Double(f) => float(*f),
        Value::Decimal(d) => d.to_string(),
        Value::Timestamp(unit, v) => timestamp(to_ns(*unit, *v)),
        Value::Text(s) | Value::Enum(s) => s.clone(),
        Value::Blob(b) | Value::Geometry(b) => b.iter().map(|x| format!("{x:02x}")).collect(),
        Value::Date32(d) => date(*d),
        Value::Time64(unit, v) => time_of_day(to_ns(*unit, *v)),
        Value::Interval {
            months,
            days,
            nanos,
        } => format!("{months} months {days} days {nanos} ns"),
        Value::List(items) | Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(text).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Struct(fields) => {
            let inner: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("{k}: {}", text(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
        Value::Map(entries) => {
            let inner: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{}={}", text(k), text(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
        Value::Union(inner) => text(inner),
        // Value is non-exhaustive: a type added in a later DuckDB.
        other => format!("{other:?}"),
    }
}

/// A value as JSON: numbers stay numbers (128-bit ones beyond 64 bits
/// become strings), times become RFC 3339 strings.
pub fn json(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Boolean(b) => Json::Bool(*b),
        Value::TinyInt(n) => Json::from(*n),
        Value::SmallInt(n) => Json::from(*n),
        Value::Int(n) => Json::from(*n),
        Value::BigInt(n) => Json::from(*n),
        Value::HugeInt(n) => {
            i64::try_from(*n).map_or_else(|_| Json::String(n.to_string()), Json::from)
        }
        Value::UHugeInt(n) => {
            u64::try_from(*n).map_or_else(|_| Json::String(n.to_string()), Json::from)
        }
        Value::UTinyInt(n) => Json::from(*n),
        Value::USmallInt(n) => Json::from(*n),
        Value::UInt(n) => Json::from(*n),
        Value::UBigInt(n) => Json::from(*n),
        Value::Float(f) => {
            serde_json::Number::from_f64(f64::from(*f)).map_or(Json::Null, Json::Number)
        }
        Value::Double(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::List(items) | Value::Array(items) => Json::Array(items.iter().map(json).collect()),
        Value::Struct(fields) => {
            Json::Object(fields.iter().map(|(k, v)| (k.clone(), json(v))).collect())
        }
        Value::Map(entries) => Json::Array(
            entries
                .iter()
                .map(|(k, v)| serde_json::json!({"key": json(k), "value": json(v)}))
                .collect(),
        ),
        Value::Union(inner) => json(inner),
        other => Json::String(text(other)),
    }
}

fn is_numeric(v: &Value) -> bool {
    matches!(
        v,
        Value::TinyInt(_)
            | Value::SmallInt(_)
            | Value::Int(_)
            | Value::BigInt(_)
            | Value::HugeInt(_)
            | Value::UHugeInt(_)
            | Value::UTinyInt(_)
            | Value::USmallInt(_)
            | Value::UInt(_)
            | Value::UBigInt(_)
            | Value::Float(_)
            | Value::Double(_)
            | Value::Decimal(_)
    )
}

/// `s` cut to `max` characters (at least one), the last of them `…`.
fn clip(s: String, max: usize) -> String {
    let max = max.max(1);
    if s.chars().count() <= max {
        return s;
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// One line per cell, with control characters made visible.
fn single_line(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\n' => '⏎',
            c if c.is_control() => '·',
            c => c,
        })
        .collect()
}

/// `s` padded with spaces to `width` characters. By hand rather than with
/// `format!("{s:<width$}")`, whose width must fit in a u16: a 65,536
/// character column name panicked there.
fn pad(s: &str, width: usize, right_align: bool) -> String {
    let fill = " ".repeat(width.saturating_sub(s.chars().count()));
    if right_align {
        fill + s
    } else {
        format!("{s}{fill}")
    }
}

/// The aligned table with cells and headers clipped to [`MAX_CELL`].
pub fn write_aligned(out: &mut impl Write, table: &Table, color: bool) -> io::Result<()> {
    write_aligned_within(out, table, color, MAX_CELL)
}

/// The aligned table: numbers right-aligned, floats to six significant
/// digits, NULL shown as `NULL`, each cell and header clipped to
/// `max_cell` characters, then a row count.
pub fn write_aligned_within(
    out: &mut impl Write,
    table: &Table,
    color: bool,
    max_cell: usize,
) -> io::Result<()> {
    let p = Palette::new(color);
    let cells: Vec<Vec<(String, bool, bool)>> = table
        .rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|v| match v {
                    Value::Null => ("NULL".to_owned(), false, true),
                    v => (
                        clip(single_line(&render(v, Floats::Readable)), max_cell),
                        is_numeric(v),
                        false,
                    ),
                })
                .collect()
        })
        .collect();
    let names: Vec<String> = table
        .columns
        .iter()
        .map(|name| clip(single_line(name), max_cell))
        .collect();
    let widths: Vec<usize> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            cells
                .iter()
                .filter_map(|r| r.get(i))
                .map(|(s, _, _)| s.chars().count())
                .chain([name.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    // A column of numbers (NULLs aside) is right-aligned, header included.
    let numeric: Vec<bool> = (0..names.len())
        .map(|i| {
            let mut values = cells
                .iter()
                .filter_map(|r| r.get(i))
                .filter(|c| !c.2)
                .peekable();
            values.peek().is_some() && values.all(|c| c.1)
        })
        .collect();
    let header: Vec<String> = names
        .iter()
        .zip(&widths)
        .zip(&numeric)
        .map(|((name, &w), &num)| pad(name, w, num))
        .collect();
    paint(out, p.heading, header.join("  ").trim_end())?;
    writeln!(out)?;
    let rule: Vec<String> = widths.iter().map(|w| "─".repeat(*w)).collect();
    paint(out, p.dim, &rule.join("  "))?;
    writeln!(out)?;
    for row in &cells {
        let mut line = String::new();
        for (i, (s, numeric, null)) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let padded = pad(s, widths.get(i).copied().unwrap_or(0), *numeric);
            if *null && color {
                line.push_str(&format!("{}{padded}{:#}", p.dim, p.dim));
            } else {
                line.push_str(&padded);
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    let n = table.rows.len();
    paint(
        out,
        p.dim,
        &format!("({n} row{})", if n == 1 { "" } else { "s" }),
    )?;
    writeln!(out)
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// RFC 4180 CSV with a header line; NULL is an empty field.
pub fn write_csv(out: &mut impl Write, table: &Table) -> io::Result<()> {
    let header: Vec<String> = table.columns.iter().map(|c| csv_field(c)).collect();
    write!(out, "{}\r\n", header.join(","))?;
    for row in &table.rows {
        let fields: Vec<String> = row.iter().map(|v| csv_field(&text(v))).collect();
        write!(out, "{}\r\n", fields.join(","))?;
    }
    Ok(())
}

/// A JSON array with one object per row, keys in column order.
pub fn write_json(out: &mut impl Write, table: &Table) -> io::Result<()> {
    let rows: Vec<Json> = table
        .rows
        .iter()
        .map(|row| {
            let mut obj = serde_json::Map::new();
            for (name, v) in table.columns.iter().zip(row) {
                obj.insert(name.clone(), json(v));
            }
            Json::Object(obj)
        })
        .collect();
    serde_json::to_writer(&mut *out, &rows)?;
    writeln!(out)
}

/// Seconds-precision local-free rendering of a Unix ns time, for listings.
pub fn unix_ns(ns: i64) -> String {
    match u64::try_from(ns) {
        Ok(ns) => {
            humantime::format_rfc3339_seconds(SystemTime::UNIX_EPOCH + Duration::from_nanos(ns))
                .to_string()
        }
        Err(_) => "-".to_owned(),
    }
}

/// A Unix ns time in UTC to the millisecond, for event lines.
pub fn unix_ns_millis(ns: i64) -> String {
    match u64::try_from(ns) {
        Ok(ns) => {
            humantime::format_rfc3339_millis(SystemTime::UNIX_EPOCH + Duration::from_nanos(ns))
                .to_string()
        }
        Err(_) => "-".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        Table {
            columns: vec![
                "endpoint".into(),
                "n".into(),
                "p99_ms".into(),
                "note".into(),
            ],
            rows: vec![
                vec![
                    Value::Text("GET /a".into()),
                    Value::BigInt(12),
                    Value::Double(1.5),
                    Value::Null,
                ],
                vec![
                    Value::Text("POST \"b\", c".into()),
                    Value::BigInt(3),
                    Value::Double(250.25),
                    Value::Text("two\nlines".into()),
                ],
            ],
        }
    }

    #[test]
    fn aligned() {
        let mut out = Vec::new();
        write_aligned(&mut out, &sample(), false).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "endpoint      n  p99_ms  note\n\
             ───────────  ──  ──────  ─────────\n\
             GET /a       12     1.5  NULL\n\
             POST \"b\", c   3  250.25  two⏎lines\n\
             (2 rows)\n"
        );
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        let mut out = Vec::new();
        write_csv(&mut out, &sample()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "endpoint,n,p99_ms,note\r\nGET /a,12,1.5,\r\n\"POST \"\"b\"\", c\",3,250.25,\"two\nlines\"\r\n"
        );
    }

    #[test]
    fn json_rows_are_objects() {
        let mut out = Vec::new();
        write_json(&mut out, &sample()).unwrap();
        let v: Json = serde_json::from_slice(&out).unwrap();
        assert_eq!(v[0]["endpoint"], "GET /a");
        assert_eq!(v[0]["n"], 12);
        assert_eq!(v[0]["note"], Json::Null);
        assert_eq!(v[1]["p99_ms"], 250.25);
        assert_eq!(v.as_array().unwrap().len(), 2);
    }

    fn aligned_within(table: &Table, max_cell: usize) -> String {
        let mut out = Vec::new();
        write_aligned_within(&mut out, table, false, max_cell).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// `format!("{s:<w$}")` panicked ("Formatting argument out of range")
    /// once a column was 65,536 characters wide.
    #[test]
    fn a_header_of_any_length_is_clipped_without_a_panic() {
        let long = "a".repeat(65_536);
        let table = Table {
            columns: vec![long.clone(), "n".into()],
            rows: vec![vec![Value::Text(long), Value::BigInt(1)]],
        };
        let mut out = Vec::new();
        write_aligned(&mut out, &table, false).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let clipped = format!("{}…", "a".repeat(MAX_CELL - 1));
        assert_eq!(lines[0], format!("{clipped}  n"));
        assert_eq!(lines[2], format!("{clipped}  1"));
        for max_cell in [0, 1, 5, usize::MAX] {
            let text = aligned_within(&table, max_cell);
            assert!(text.ends_with("(1 row)\n"), "{max_cell}");
        }
    }

    #[test]
    fn cells_and_headers_clip_to_the_width_asked_for() {
        assert_eq!(
            aligned_within(&sample(), 6),
            "endpo…   n  p99_ms  note\n\
             ──────  ──  ──────  ──────\n\
             GET /a  12     1.5  NULL\n\
             POST …   3  250.25  two⏎l…\n\
             (2 rows)\n"
        );
    }

    #[test]
    fn floats_read_at_six_significant_digits() {
        for (f, want) in [
            (44.548281399999915, "44.5483"),
            (250.25, "250.25"),
            (1.5, "1.5"),
            (2.0, "2"),
            (-0.0, "0"),
            (-7.123456789, "-7.12346"),
            (9.9999996, "10"),
            (1234567.891, "1234568"),
            (0.000123456789, "0.000123457"),
            (0.0000123456, "1.23456e-5"),
            (1.5e20, "1.5e20"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-inf"),
        ] {
            assert_eq!(readable_float(f), want, "{f:?}");
        }
        let table = Table {
            columns: vec!["p99_ms".into(), "qs".into(), "f".into()],
            rows: vec![vec![
                Value::Double(44.548281399999915),
                Value::List(vec![Value::Double(0.1 + 0.2), Value::Double(1.0)]),
                Value::Float(0.1),
            ]],
        };
        let text = aligned_within(&table, MAX_CELL);
        assert_eq!(
            text.lines().nth(2),
            Some("44.5483  [0.3, 1]  0.1"),
            "{text}"
        );
        // Programs get every digit.
        let mut json = Vec::new();
        write_json(&mut json, &table).unwrap();
        let v: Json = serde_json::from_slice(&json).unwrap();
        assert_eq!(v[0]["p99_ms"], 44.548281399999915);
        assert_eq!(v[0]["qs"][0], 0.30000000000000004);
        let mut csv = Vec::new();
        write_csv(&mut csv, &table).unwrap();
        let csv = String::from_utf8(csv).unwrap();
        assert!(csv.contains("44.548281399999915,"), "{csv}");
    }

    #[test]
    fn dates_and_times() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(20_416), "2025-11-24");
        assert_eq!(date(-1), "1969-12-31");
        assert_eq!(
            timestamp(1_700_000_000_123_000_000),
            "2023-11-14T22:13:20.123000000Z"
        );
        assert_eq!(time_of_day(3_723_000_000_000), "01:02:03");
    }
}
