//! Micro-benchmarks of the expression engine: evaluating expressions that were parsed at
//! load time against a message, as mediators do on every request (`make bench-micro`).

#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group};
use ferry::expr::{evaluate, evaluate_bool, evaluate_string};
use ferry::message::Message;
use ferry_api::expr::Expression;
use serde_json::json;

fn order() -> serde_json::Value {
    json!({
        "kind": "a",
        "id": 42,
        "customer": {"name": "Ann", "tier": "gold"},
        "items": (0..20).map(|i| json!({"sku": format!("SKU-{i}"), "qty": i % 5 + 1, "price": 9.5}))
            .collect::<Vec<_>>(),
    })
}

fn message() -> Message {
    Message::builder()
        .uri("/orders/42?q=x")
        .json(&order())
        .header("X-Tenant", "acme")
        .variable("total", json!(120))
        .build()
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let cases = [
        ("payload field", "${payload.kind}"),
        ("nested path", "${payload.customer.name}"),
        ("array index", "${payload.items[3].sku}"),
        ("arithmetic", "${var.total * 2 + 1}"),
        (
            "comparison",
            "${payload.id > 10 && payload.customer.tier == 'gold'}",
        ),
        ("function", "${length(payload.items)}"),
        ("header", "${headers[\"X-Tenant\"]}"),
        ("json-eval", "json-eval($.customer.name)"),
    ];
    let msg = message();
    // The first evaluation parses the payload; the loop measures evaluation alone, as later
    // mediators in a sequence see it.
    let _ = evaluate(&Expression::parse("${payload.kind}").unwrap(), &msg);
    let mut group = c.benchmark_group("expr/evaluate");
    for (name, src) in cases {
        let expr = Expression::parse(src).unwrap();
        // A failing expression would time its error path: check it once first.
        evaluate(&expr, &msg).unwrap_or_else(|e| panic!("{src}: {e}"));
        group.bench_function(name, |b| b.iter(|| evaluate(black_box(&expr), &msg)));
    }
    group.finish();

    let cond = Expression::parse("${payload.customer.tier == 'gold'}").unwrap();
    c.bench_function("expr/evaluate_bool", |b| {
        b.iter(|| evaluate_bool(black_box(&cond), &msg))
    });
    let text = Expression::parse("${payload.items[0]}").unwrap();
    c.bench_function("expr/evaluate_string object", |b| {
        b.iter(|| evaluate_string(black_box(&text), &msg))
    });

    // First touch of a fresh message: parsing the JSON body is part of the cost.
    let kind = Expression::parse("${payload.kind}").unwrap();
    c.bench_function("expr/first evaluation incl. payload parse", |b| {
        b.iter_batched(message, |m| evaluate(&kind, &m), BatchSize::SmallInput)
    });

    c.bench_function("expr/parse", |b| {
        b.iter(|| {
            Expression::parse(black_box(
                "${payload.id > 10 && length(payload.items) < 50}",
            ))
        })
    });
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
