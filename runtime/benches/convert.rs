//! Micro-benchmarks of JSON ⇄ XML conversion with Micro Integrator's default rules, and of
//! XML parsing and writing (`make bench-micro`).

#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group};
use ferry::message::convert::{ConversionOptions, json_to_xml, xml_to_json};
use ferry::message::payload::Payload;
use ferry::xml;
use serde_json::{Value, json};

/// A JSON order with `n` items (about 60 bytes each).
fn order(n: usize) -> Value {
    json!({
        "order": {
            "id": 42,
            "customer": {"name": "Ann", "tier": "gold", "vip": true},
            "items": (0..n).map(|i| json!({"sku": format!("SKU-{i:05}"), "qty": i % 5 + 1, "price": 9.5}))
                .collect::<Vec<_>>(),
        }
    })
}

fn bench(c: &mut Criterion) {
    let options = ConversionOptions::default();
    for (label, n) in [("1 KiB", 15), ("100 KiB", 1600)] {
        let value = order(n);
        let json_text = serde_json::to_vec(&value).unwrap();
        let element = json_to_xml(&value, &options).unwrap();
        let mut xml_text = Vec::new();
        element.write_to(&mut xml_text);

        let mut group = c.benchmark_group(format!("convert/{label}"));
        group.throughput(Throughput::Bytes(json_text.len() as u64));
        group.bench_function("json bytes -> xml bytes", |b| {
            b.iter(|| {
                let v: Value = serde_json::from_slice(black_box(&json_text)).unwrap();
                let e = json_to_xml(&v, &options).unwrap();
                let mut out = Vec::with_capacity(xml_text.len());
                e.write_to(&mut out);
                out
            })
        });
        // What `Payload::to_bytes` does for a raw body leaving in the other format: from
        // the received bytes, without the trees.
        let json_bytes = Bytes::from(json_text.clone());
        group.bench_function("json bytes -> xml bytes, direct", |b| {
            b.iter(|| {
                Payload::from_bytes(black_box(json_bytes.clone()), Some("application/json"))
                    .to_bytes("application/xml")
                    .unwrap()
            })
        });
        group.bench_function("xml bytes -> json bytes", |b| {
            b.iter(|| {
                let e = xml::parse(black_box(&xml_text)).unwrap();
                serde_json::to_vec(&xml_to_json(&e, &options)).unwrap()
            })
        });
        let xml_bytes = Bytes::from(xml_text.clone());
        group.bench_function("xml bytes -> json bytes, direct", |b| {
            b.iter(|| {
                Payload::from_bytes(black_box(xml_bytes.clone()), Some("application/xml"))
                    .to_bytes("application/json")
                    .unwrap()
            })
        });
        group.bench_function("json value -> xml element", |b| {
            b.iter(|| json_to_xml(black_box(&value), &options))
        });
        group.bench_function("xml element -> json value", |b| {
            b.iter(|| xml_to_json(black_box(&element), &options))
        });
        group.bench_function("xml parse", |b| b.iter(|| xml::parse(black_box(&xml_text))));
        group.bench_function("xml write", |b| {
            b.iter(|| {
                let mut out = Vec::with_capacity(xml_text.len());
                black_box(&element).write_to(&mut out);
                out
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench);

/// `cargo test --all-targets` builds this and runs it without `--bench`: then it does
/// nothing, so benchmarks never run as tests. `cargo bench -p ferry -- --test` runs each
/// benchmark once as a smoke test.
fn main() {
    if std::env::args().any(|a| a == "--bench") {
        benches();
        Criterion::default().configure_from_args().final_summary();
    }
}
