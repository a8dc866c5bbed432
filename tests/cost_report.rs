//! `tfops cost report` through the real binary: the JSON shape of SPEC, the sums from a ledger
//! written as the daemon writes it, a torn line, and `--at`.

mod common;

use common::{text, Ws};
use serde_json::Value;

fn report(ws: &Ws, args: &[&str]) -> (std::process::Output, Value) {
    let o = ws
        .cmd()
        .env("TZ", "UTC")
        .args(["cost", "report", "--json"])
        .args(args)
        .output()
        .expect("run tfops");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    (o, v)
}

fn line(service: u32, from: &str, to: &str, secs: i64, off: bool, cost: f64) -> String {
    let schedule = if off { r#","schedule":"night""# } else { "" };
    format!(
        r#"{{"service":"service_{service}","from":"{from}","to":"{to}","seconds":{secs},"off":{off},"hourly_cost":{cost}{schedule}}}"#
    )
}

fn write_ledger(ws: &Ws, lines: &[String]) {
    std::fs::create_dir_all(ws.path("balanceador/logs")).unwrap();
    std::fs::write(
        ws.path("balanceador/logs/cost_ledger.jsonl"),
        lines.join("\n") + "\n",
    )
    .unwrap();
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn json_shape_with_an_empty_ledger() {
    let ws = Ws::bundled();
    let (_, v) = report(&ws, &[]);
    let services = v["services"].as_array().expect("services array");
    assert_eq!(services.len(), 3);
    for (i, s) in services.iter().enumerate() {
        assert_eq!(s["name"], format!("service_{}", i + 1));
        for k in ["hours_up", "hours_off", "cost", "saved"] {
            assert_eq!(f(&s[k]), 0.0, "{k} in {s}");
        }
    }
    assert_eq!(f(&v["total_cost"]), 0.0);
    assert_eq!(f(&v["total_saved"]), 0.0);
    assert!(v.get("at").is_none());
}

#[test]
fn sums_the_ledger() {
    let ws = Ws::bundled();
    write_ledger(
        &ws,
        &[
            line(
                1,
                "2026-01-01T00:00:00+00:00",
                "2026-01-01T06:00:00+00:00",
                21600,
                false,
                0.2,
            ),
            line(
                2,
                "2026-01-01T00:00:00+00:00",
                "2026-01-01T06:00:00+00:00",
                21600,
                false,
                0.1,
            ),
            line(
                3,
                "2026-01-01T00:00:00+00:00",
                "2026-01-01T06:00:00+00:00",
                21600,
                true,
                0.1,
            ),
            line(
                3,
                "2026-01-01T06:00:00+00:00",
                "2026-01-01T07:30:00+00:00",
                5400,
                false,
                0.1,
            ),
            // Another offset, same instants as 06:00-07:30 UTC: never counted twice.
            line(
                3,
                "2026-01-01T07:00:00+01:00",
                "2026-01-01T08:30:00+01:00",
                5400,
                false,
                0.1,
            ),
        ],
    );
    let (_, v) = report(&ws, &[]);
    let s = &v["services"];
    assert_eq!(f(&s[0]["hours_up"]), 6.0);
    assert!((f(&s[0]["cost"]) - 1.2).abs() < 1e-9);
    assert_eq!(f(&s[0]["saved"]), 0.0);
    assert_eq!(f(&s[2]["hours_off"]), 6.0);
    assert_eq!(f(&s[2]["hours_up"]), 1.5);
    assert!((f(&s[2]["saved"]) - 0.6).abs() < 1e-9);
    assert!((f(&s[2]["cost"]) - 0.15).abs() < 1e-9);
    assert!((f(&v["total_cost"]) - (1.2 + 0.6 + 0.15)).abs() < 1e-9);
    assert!((f(&v["total_saved"]) - 0.6).abs() < 1e-9);
    assert_eq!(v["since"], "2026-01-01T00:00:00+00:00");
    assert_eq!(v["until"], "2026-01-01T07:30:00+00:00");

    // The table says the same.
    let o = ws
        .cmd()
        .env("TZ", "UTC")
        .args(["cost", "report"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let row = out
        .lines()
        .find(|l| l.starts_with("service_3"))
        .expect(&out);
    assert!(
        row.contains("1.50") && row.contains("6.00") && row.contains("0.6000"),
        "{out}"
    );
    assert!(out.lines().any(|l| l.starts_with("total")), "{out}");
}

#[test]
fn a_torn_line_is_skipped_and_said() {
    let ws = Ws::bundled();
    let good = line(
        1,
        "2026-01-01T00:00:00+00:00",
        "2026-01-01T01:00:00+00:00",
        3600,
        false,
        0.1,
    );
    write_ledger(&ws, &[good.clone(), good[..good.len() / 2].to_string()]);
    let (_, v) = report(&ws, &[]);
    assert_eq!(v["skipped_lines"], 1);
    assert_eq!(f(&v["services"][0]["hours_up"]), 1.0);
}

#[test]
fn at_says_which_services_are_off() {
    let ws = Ws::bundled();
    let (_, v) = report(&ws, &["--at", "2026-01-01 03:00"]);
    assert_eq!(
        v["at"]["off"],
        serde_json::json!([{"name": "service_3", "schedule": "night"}])
    );
    assert_eq!(v["at"]["on"], serde_json::json!(["service_1", "service_2"]));
    assert_eq!(v["at"]["time"], "2026-01-01T03:00:00+00:00");
    // The report itself is still there.
    assert_eq!(v["services"].as_array().unwrap().len(), 3);

    let (_, v) = report(&ws, &["--at", "2026-01-01 06:00"]);
    assert_eq!(v["at"]["off"], serde_json::json!([]), "end is exclusive");
    let (_, v) = report(&ws, &["--at", "2026-01-01T05:59:00+00:00"]);
    assert_eq!(v["at"]["off"][0]["name"], "service_3");
    // RFC 3339 with another offset: 06:30+01:00 is 05:30 UTC.
    let (_, v) = report(&ws, &["--at", "2026-01-01T06:30:00+01:00"]);
    assert_eq!(v["at"]["off"][0]["name"], "service_3");

    // The human answer.
    let o = ws
        .cmd()
        .env("TZ", "UTC")
        .args(["cost", "report", "--at", "2026-01-01 03:00"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("service_3 off (schedule night)"), "{out}");
    assert!(out.contains("service_1 on"), "{out}");
}

#[test]
fn at_follows_a_named_timezone() {
    let ws = Ws::bundled();
    ws.write_config(
        "schedule \"lima\" {\n  services = [\"service_1\", \"service_2\"]\n  off = \"22:00-02:00\"\n  days = [\"fri\"]\n  timezone = \"America/Lima\"\n}\n",
    );
    // Friday 2026-01-02 23:00 in Lima is Saturday 04:00 UTC.
    let (_, v) = report(&ws, &["--at", "2026-01-03T04:00:00Z"]);
    assert_eq!(v["at"]["off"].as_array().unwrap().len(), 2, "{v}");
    // Saturday 23:00 in Lima: not a Friday window.
    let (_, v) = report(&ws, &["--at", "2026-01-04T04:00:00Z"]);
    assert_eq!(v["at"]["off"], serde_json::json!([]));
}

#[test]
fn bad_at_is_one_clear_error() {
    let ws = Ws::bundled();
    let o = ws.run(&["cost", "report", "--at", "half past three"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("not a time") && err.contains("YYYY-MM-DD HH:MM"),
        "{err}"
    );
    assert!(o.stdout.is_empty());
}
