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
async fn appointments_are_routed_to_each_hospital_and_confirmed() {
    let sample = workspace_root().join("config/samples/healthcare");
    let ferry = Ferry::start(&[&sample], &[]);
    let http = client();
    for (hospital, fee) in [
        ("grand oak community hospital", 7000.0),
        ("clemency medical center", 12000.0),
        ("pine valley community hospital", 8000.0),
    ] {
        let resp = http
            .post(ferry.url("/healthcare/categories/surgery/appointment"))
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

/// The processor's counters once `done` holds for them (15 s at most).
async fn processor_state(ferry: &Ferry, done: impl Fn(&Value) -> bool) -> Value {
    let url = ferry.admin_url("/management/message-processors/payment-processor");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let state: Value = client()
            .get(&url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if done(&state) {
            return state;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{state}\n{}",
            ferry.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reservation_runs_the_tutorial_to_its_end_and_the_payment_is_settled() {
    let sample = workspace_root().join("config/samples/healthcare");
    let ferry = Ferry::start(&[&sample], &[]);
    let resp = client()
        .post(ferry.url("/healthcare/categories/surgery/reserve"))
        .json(&reservation("clemency medical center"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202, "{}", ferry.log());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"message": "Payment request successfully submitted. Payment confirmation will be sent via email."})
    );
    processor_state(&ferry, |s| s["delivered"] == json!(1)).await;
    // The settle-payment backend's answer, logged by the reply sequence: the fee is the
    // one the hospital's channelling-fee service gave (clemency: 12000), discounted 20 %.
    let log = ferry.log();
    let settled = log
        .lines()
        .find(|l| l.contains("payment settled:"))
        .unwrap_or_else(|| panic!("{log}"));
    for part in [
        "payment settled: Settled for John Doe",
        "doctorName = thomas collins",
        "actualFee = 12000.0",
        "discount = 20",
        "discounted = 9600.0",
        "paymentID = pay-",
    ] {
        assert!(settled.contains(part), "{part} not in {settled}");
    }
    assert!(settled.contains("appointmentNo = "), "{settled}");
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
    let resp = pay(json!({
        "appointmentNumber": 1,
        "doctor": {"name": "thomas collins"},
        "patient": {"name": "John Doe"},
        "fee": 7000.0,
        "confirmed": false,
        "card_number": "7844481124110331"
    }))
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
    let resp = pay(json!({"appointmentNumber": 2, "patient": {"name": "No Fee"}}))
        .await
        .unwrap();
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
        log.contains("payment settled: Settled for John Doe, appointmentNo = 1"),
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
    let files: Vec<std::path::PathBuf> = [
        "book-appointment",
        "endpoints",
        "healthcare-api",
        "hospitals",
        "payments",
    ]
    .iter()
    .map(|f| sample.join(format!("{f}.yaml")))
    .collect();
    let variant = root.join("config/variants/healthcare-rabbitmq");
    let mut paths: Vec<&std::path::Path> = files.iter().map(|p| p.as_path()).collect();
    paths.push(&variant);
    payments_are_answered_at_once_and_settled(&paths).await;
}
