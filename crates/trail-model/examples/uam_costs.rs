//! Per-document costs of parse_event, validate_event and legacy_to_uam over an NDJSON file:
//! `cargo run --release -p trail-model --example uam_costs -- events.ndjson` (a measuring tool,
//! not a test; numbers vary with the machine).
use std::time::Instant;
fn main() {
    let path = std::env::args().nth(1).expect("file");
    let text = std::fs::read_to_string(path).unwrap();
    let docs: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let n = docs.len() as f64;
    let t = Instant::now();
    for d in &docs {
        std::hint::black_box(trail_model::parse_event(d).unwrap());
    }
    println!(
        "parse_event     {:8.2} us/doc",
        t.elapsed().as_secs_f64() * 1e6 / n
    );
    let t = Instant::now();
    for d in &docs {
        std::hint::black_box(trail_model::validate_event(d, false).unwrap());
    }
    println!(
        "validate_event  {:8.2} us/doc",
        t.elapsed().as_secs_f64() * 1e6 / n
    );
    let t = Instant::now();
    for d in &docs {
        std::hint::black_box(serde_json::from_str::<serde_json::Value>(d).unwrap());
    }
    println!(
        "Value parse     {:8.2} us/doc",
        t.elapsed().as_secs_f64() * 1e6 / n
    );
    let t = Instant::now();
    let mut k = 0;
    for d in &docs {
        if let Ok(v) = trail_model::legacy_to_uam(d) {
            k += 1;
            std::hint::black_box(v);
        }
    }
    println!(
        "legacy_to_uam   {:8.2} us/doc ({k} converted)",
        t.elapsed().as_secs_f64() * 1e6 / n
    );
}
