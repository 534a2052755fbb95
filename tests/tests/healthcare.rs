//! The healthcare sample, end to end: the README's first command serves exactly this.

// Test code: a panic here is a failed test, with its message and backtrace.
#![allow(clippy::unwrap_used)]

use ferry_tests::{Ferry, broker, client, workspace_root};
use serde_json::{Value, json};

fn reservation(hospital: &str) -> Value {
    json!({
        "name": "John Doe",
        "dob": "1940-03-19",
        "ssn": "234-23-525",
        "address": "California",
        "phone": "8770586755",
        "email": "johndoe@gmail.com",
        "doctor": "thomas collins",
        "hospital": hospital,
        "cardNo": "7844481124110331",
        "appointment_date": "2025-04-02"
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reservations_are_routed_to_each_hospital_and_confirmed() {
    let sample = workspace_root().join("config/samples/healthcare");
    let ferry = Ferry::start(&[&sample], &[]);
    let http = client();
    for (hospital, fee) in [
        ("grand oak community hospital", 7000.0),
        ("clemency medical center", 12000.0),
        ("pine valley community hospital", 8000.0),
    ] {
        let resp = http
            .post(ferry.url("/healthcare/categories/surgery/reserve"))
            .json(&reservation(hospital))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{hospital}: {}", ferry.log());
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["doctor"]["hospital"], json!(hospital));
        assert_eq!(body["doctor"]["category"], json!("surgery"));
        assert_eq!(body["doctor"]["name"], json!("thomas collins"));
        assert_eq!(body["fee"], json!(fee));
        assert_eq!(body["appointmentDate"], json!("2025-04-02"));
        assert_eq!(body["confirmed"], json!(false));
        // The hospital got the patient grouped, without the card number.
        assert_eq!(body["patient"]["name"], json!("John Doe"));
        assert_eq!(body["patient"]["ssn"], json!("234-23-525"));
        assert!(body["patient"].get("cardNo").is_none(), "{body}");
        assert!(body["appointmentNumber"].is_number(), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_hospital_gets_a_json_error() {
    let sample = workspace_root().join("config/samples/healthcare");
    let ferry = Ferry::start(&[&sample], &[]);
    let resp = client()
        .post(ferry.url("/healthcare/categories/surgery/reserve"))
        .json(&reservation("st. nowhere"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], json!("unknown hospital 'st. nowhere'"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_gets_a_400_not_a_500() {
    let sample = workspace_root().join("config/samples/healthcare");
    let ferry = Ferry::start(&[&sample], &[]);
    let resp = client()
        .post(ferry.url("/healthcare/categories/surgery/reserve"))
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400, "{}", ferry.log());
}

/// The tutorial's store-and-forward flow on whatever store `paths` configure: a payment is
/// answered at once, settled by the processor, and a malformed one is parked.
async fn payments_are_answered_at_once_and_settled(paths: &[&std::path::Path]) {
    let ferry = Ferry::start(paths, &[]);
    let http = client();
    let pay = |body: Value| {
        http.post(ferry.url("/healthcare/payments"))
            .json(&body)
            .send()
    };
    let resp = pay(json!({"name": "John Doe", "amount": 7000.0}))
        .await
        .unwrap();
    assert_eq!(resp.status(), 202, "{}", ferry.log());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["message"],
        json!(
            "Payment request successfully submitted. Payment confirmation will be sent via email."
        )
    );
    // A malformed payment: the backend answers 400, a non-retry status, so it is parked
    // in failed-payments and the processor goes on.
    let resp = pay(json!({"name": "No Amount"})).await.unwrap();
    assert_eq!(resp.status(), 202);

    let state_url = ferry.admin_url("/management/message-processors/payment-processor");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let state: Value = http
            .get(&state_url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if state["delivered"] == json!(1) && state["failedAttempts"] == json!(1) {
            assert_eq!(state["state"], json!("Active"), "{state}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{state}\n{}",
            ferry.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let log = ferry.log();
    assert!(
        log.contains("payment settled: settled for John Doe"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_is_stored_answered_at_once_and_settled_by_the_processor() {
    let sample = workspace_root().join("config/samples/healthcare");
    payments_are_answered_at_once_and_settled(&[&sample]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rabbitmq_variant_settles_payments_through_the_broker() {
    if !broker::shared_reachable() {
        return;
    }
    // Messages a crashed earlier run left in the durable queue would count as deliveries.
    broker::purge_shared_queue("ferry-healthcare-payments");
    let root = workspace_root();
    let sample = root.join("config/samples/healthcare");
    let files: Vec<std::path::PathBuf> = ["endpoints", "healthcare-api", "hospitals", "payments"]
        .iter()
        .map(|f| sample.join(format!("{f}.yaml")))
        .collect();
    let variant = root.join("config/variants/healthcare-rabbitmq");
    let mut paths: Vec<&std::path::Path> = files.iter().map(|p| p.as_path()).collect();
    paths.push(&variant);
    payments_are_answered_at_once_and_settled(&paths).await;
}
