//! Data services and the database mediators, black box, on the three databases: SQLite
//! (embedded), and the machine's PostgreSQL (127.0.0.1:5432) and MariaDB (127.0.0.1:3306),
//! each test in a database of its own, dropped at the end. SQL injection in every parameter
//! type, type mismatches, NULLs, unicode, a transaction failing half-way, constraint
//! violations, 100,000 rows streamed in bounded memory, and a database restart under a
//! stream of requests (on a private PostgreSQL started by the test). TLS to PostgreSQL and
//! MariaDB is tested on private servers the tests start with certificates of a test CA.

// Test code: a panic here is a failed test, with its message and backtrace.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ferry_tests::{Ferry, client};
use serde_json::{Value, json};

/// One database under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sqlite,
    Postgres,
    Mariadb,
}

/// A database of this test, dropped when the value is.
struct Db {
    kind: Kind,
    name: String,
    port: u16,
}

impl Db {
    /// A fresh database, or `None` (with the reason printed) when its server is not running.
    fn create(kind: Kind, tag: &str) -> Option<Db> {
        let name = format!("ferry_data_{tag}_{}", std::process::id());
        let db = Db {
            kind,
            name,
            port: match kind {
                Kind::Postgres => 5432,
                _ => 3306,
            },
        };
        match kind {
            Kind::Sqlite => {}
            Kind::Postgres => {
                if std::net::TcpStream::connect("127.0.0.1:5432").is_err() {
                    eprintln!("skipped postgres: no PostgreSQL on 127.0.0.1:5432");
                    return None;
                }
                db.admin(&format!("DROP DATABASE IF EXISTS {}", db.name));
                db.admin(&format!("CREATE DATABASE {}", db.name));
            }
            Kind::Mariadb => {
                if std::net::TcpStream::connect("127.0.0.1:3306").is_err() {
                    eprintln!("skipped mariadb: no MariaDB on 127.0.0.1:3306");
                    return None;
                }
                db.admin(&format!("DROP DATABASE IF EXISTS {}", db.name));
                db.admin(&format!(
                    "CREATE DATABASE {} CHARACTER SET utf8mb4",
                    db.name
                ));
            }
        }
        Some(db)
    }

    fn admin(&self, sql: &str) {
        assert!(self.try_admin(sql), "{sql} failed");
    }

    /// Runs `sql` as the server's administrator; whether it succeeded.
    fn try_admin(&self, sql: &str) -> bool {
        let status = match self.kind {
            Kind::Sqlite => return true,
            Kind::Postgres => Command::new("psql")
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    "postgres",
                ])
                .args(["-d", "postgres", "-qc", sql])
                .stdout(Stdio::null())
                .status(),
            Kind::Mariadb => Command::new("mysql")
                .args(["-h", "127.0.0.1", "-P", "3306", "-u", "root", "-e", sql])
                .status(),
        };
        status.map(|s| s.success()).unwrap_or(false)
    }

    /// The DataSource document.
    fn source(&self) -> String {
        let url = match self.kind {
            Kind::Sqlite => "sqlite:items.db".to_string(),
            Kind::Postgres => format!("postgres://postgres@127.0.0.1:{}/{}", self.port, self.name),
            Kind::Mariadb => format!("mysql://root@127.0.0.1:3306/{}", self.name),
        };
        let type_ = match self.kind {
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgres",
            Kind::Mariadb => "mysql",
        };
        let (serial, boolean, many) = match self.kind {
            Kind::Sqlite => ("INTEGER PRIMARY KEY AUTOINCREMENT", "BOOLEAN", ""),
            Kind::Postgres => ("BIGSERIAL PRIMARY KEY", "BOOLEAN", ""),
            Kind::Mariadb => ("BIGINT AUTO_INCREMENT PRIMARY KEY", "BOOLEAN", ""),
        };
        let _ = many;
        format!(
            "apiVersion: ferry.dev/v1alpha1
kind: DataSource
metadata: {{name: db}}
spec:
  type: {type_}
  url: \"{url}\"
  pool: {{maxConnections: 4, acquireTimeoutMs: 2000}}
  initSql:
    - CREATE TABLE IF NOT EXISTS items (id {serial}, name VARCHAR(100) NOT NULL UNIQUE, qty INTEGER, price DECIMAL(10,2), active {boolean}, born DATE, note TEXT)
    - CREATE TABLE IF NOT EXISTS audit (id INTEGER NOT NULL, what VARCHAR(40) NOT NULL UNIQUE)
"
        )
    }

    /// SQL returning `:n` numbered rows with a 200-character text each.
    fn many_sql(&self) -> &'static str {
        match self.kind {
            Kind::Postgres => {
                "SELECT g AS n, repeat('x', 200) AS pad FROM generate_series(1, :n) AS g"
            }
            Kind::Sqlite | Kind::Mariadb => {
                "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < :n) SELECT n, REPLACE(printf('%200s', ''), ' ', 'x') AS pad FROM s"
            }
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if self.kind != Kind::Sqlite && self.name != "postgres" {
            let drop = match self.kind {
                Kind::Postgres => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
                _ => format!("DROP DATABASE IF EXISTS {}", self.name),
            };
            // Never a panic in a destructor: a failing test is unwinding through here.
            if !self.try_admin(&drop) {
                eprintln!("could not drop database {}", self.name);
            }
        }
    }
}

/// The data service and flows under test, over `db`.
fn config(db: &Db) -> String {
    let many = match db.kind {
        // MariaDB has no printf: its padding is REPEAT.
        // MariaDB has no printf, and stops a recursion at 1,000 rows
        // (max_recursive_iterations): digits cross-joined, then limited.
        Kind::Mariadb => "WITH RECURSIVE d(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM d WHERE x < 9) SELECT a.x + 10 * b.x + 100 * c.x + 1000 * e.x + 10000 * f.x + 1 AS n, REPEAT('x', 200) AS pad FROM d a, d b, d c, d e, d f ORDER BY n LIMIT :n".to_string(),
        _ => db.many_sql().to_string(),
    };
    let truthy = if db.kind == Kind::Postgres {
        "true"
    } else {
        "1"
    };
    format!(
        "{source}---
apiVersion: ferry.dev/v1alpha1
kind: DataService
metadata: {{name: items}}
spec:
  dataSource: db
  queries:
    - name: byId
      sql: SELECT id, name, qty, price, active, born, note FROM items WHERE id = :id
      params: [{{name: id, type: integer}}]
      result: {{rowName: item, single: true}}
    - name: byName
      sql: SELECT id, name FROM items WHERE name = :name ORDER BY id
      params: [{{name: name}}]
      result: {{element: items, rowName: item}}
    - name: search
      sql: SELECT id FROM items WHERE qty = :qty OR price = :price OR active = :active OR born = :born ORDER BY id
      params:
        - {{name: qty, type: integer, optional: true}}
        - {{name: price, type: decimal, optional: true}}
        - {{name: active, type: boolean, optional: true}}
        - {{name: born, type: date, optional: true}}
      result: {{}}
    - name: add
      sql: INSERT INTO items (name, qty, price, active, born, note) VALUES (:name, :qty, :price, :active, :born, :note)
      params:
        - {{name: name}}
        - {{name: qty, type: integer, optional: true, minimum: 0}}
        - {{name: price, type: decimal, optional: true}}
        - {{name: active, type: boolean, default: \"false\"}}
        - {{name: born, type: date, optional: true}}
        - {{name: note, optional: true}}
    - name: audit
      sql: INSERT INTO audit (id, what) VALUES (:id, :what)
      params: [{{name: id, type: integer}}, {{name: what}}]
    - name: count
      sql: SELECT COUNT(*) AS n FROM items
      result: {{single: true}}
    - name: many
      sql: \"{many}\"
      params: [{{name: n, type: integer, minimum: 1, maximum: 1000000}}]
      result: {{element: rows, rowName: row}}
    - name: remove
      sql: DELETE FROM items WHERE id = :id
      params: [{{name: id, type: integer}}]
    - name: activate
      sql: UPDATE items SET active = {truthy} WHERE id = :id
      params: [{{name: id, type: integer}}]
  resources:
    - {{method: GET, path: \"/items/{{id}}\", query: byId, notFound: true}}
    - {{method: GET, path: /items, query: byName}}
    - {{method: GET, path: /search, query: search}}
    - {{method: POST, path: /items, query: add, status: 201}}
    - {{method: POST, path: /items/batch, query: add, batch: true}}
    - {{method: POST, path: /box, queries: [add, audit]}}
    - {{method: PUT, path: \"/items/{{id}}/active\", queries: [activate, byId], notFound: true}}
    - {{method: DELETE, path: \"/items/{{id}}\", query: remove, notFound: true}}
    - {{method: GET, path: /count, query: count}}
    - {{method: GET, path: /many, query: many}}
---
apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata: {{name: flows}}
spec:
  context: /flows
  resources:
    - methods: [POST]
      uriTemplate: /report
      inSequence:
        - dbReport:
            connection: {{dsName: db}}
            useTransaction: true
            statements:
              - sql: INSERT INTO audit (id, what) VALUES (?, ?)
                parameters:
                  - {{expression: \"${{payload.id}}\", type: INTEGER}}
                  - {{expression: \"${{payload.what}}\", type: VARCHAR}}
              - sql: INSERT INTO audit (id, what) VALUES (?, ?)
                parameters:
                  - {{expression: \"${{payload.id}}\", type: INTEGER}}
                  - {{expression: \"${{payload.second}}\", type: VARCHAR}}
        - payloadFactory: {{mediaType: json, format: '{{\"reported\": true}}'}}
        - respond: {{}}
      faultSequence:
        - payloadFactory: {{mediaType: json, format: '{{\"failed\": \"${{props.synapse.ERROR_CODE}}\"}}'}}
        - respond: {{}}
    - methods: [GET]
      uriTemplate: /lookup/{{what}}
      inSequence:
        - dbLookup:
            connection: {{dsName: db}}
            statements:
              - sql: SELECT id, what FROM audit WHERE what = ?
                parameters:
                  - {{expression: \"${{params.uriParams.what}}\", type: VARCHAR}}
                results:
                  - {{name: found, column: id}}
                  - {{name: label, column: \"2\"}}
        - payloadFactory: {{mediaType: json, format: '{{\"id\": \"${{props.synapse.found}}\", \"what\": \"${{props.synapse.label}}\"}}'}}
        - respond: {{}}
",
        source = db.source()
    )
}

fn start(db: &Db) -> (Ferry, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data.yaml");
    std::fs::write(&file, config(db)).unwrap();
    let ferry = Ferry::start(&[&file], &[]);
    (ferry, dir)
}

async fn send(
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
    accept: Option<&str>,
) -> (u16, String) {
    let mut req = client().request(method, url);
    if let Some(b) = body {
        req = req.json(&b);
    }
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

async fn get(ferry: &Ferry, path: &str) -> (u16, String) {
    send(reqwest::Method::GET, ferry.url(path), None, None).await
}

async fn post(ferry: &Ferry, path: &str, body: Value) -> (u16, String) {
    send(reqwest::Method::POST, ferry.url(path), Some(body), None).await
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// No answer may show SQL or the driver's words.
fn assert_clean(body: &str) {
    for leak in [
        "SELECT",
        "INSERT",
        "DELETE",
        "UPDATE",
        "duplicate",
        "violat",
        "syntax",
        "sqlx",
        "error returned from database",
        "Duplicate entry",
        "UNIQUE constraint",
    ] {
        assert!(!body.contains(leak), "the answer leaks {leak:?}: {body}");
    }
}

async fn count(ferry: &Ferry) -> i64 {
    let (status, body) = get(ferry, "/services/items/count").await;
    assert_eq!(status, 200, "{body}");
    json_of(&body)["n"].as_i64().unwrap()
}

/// Everything a data service promises, on one database.
async fn data_service_contract(kind: Kind) {
    let tag = format!("{kind:?}").to_lowercase();
    let Some(db) = Db::create(kind, &tag) else {
        return;
    };
    let (ferry, _dir) = start(&db);
    let svc = "/services/items";

    // Create, read back, unicode and NULLs.
    let unicode = "Zoë 東京 🚀 \"quoted\" <tag> & 'apostrophe'";
    let (status, body) = post(
        &ferry,
        &format!("{svc}/items"),
        json!({"name": unicode, "qty": 3, "price": "12.50", "active": true, "born": "1990-04-02"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(json_of(&body), json!({"rowsAffected": 1}));
    let (status, body) = get(&ferry, &format!("{svc}/items?name={}", urlencode(unicode))).await;
    assert_eq!(status, 200, "{body}");
    let id = json_of(&body)["items"]["item"][0]["id"].as_i64().unwrap();
    let (status, body) = get(&ferry, &format!("{svc}/items/{id}")).await;
    assert_eq!(status, 200, "{body}");
    let item = json_of(&body);
    assert_eq!(item["name"], json!(unicode));
    assert_eq!(item["qty"], json!(3));
    assert_eq!(item["born"], json!("1990-04-02"));
    assert_eq!(item["note"], Value::Null, "{item}");
    assert!(
        item["price"] == json!(12.5)
            || item["price"] == json!("12.50")
            || item["price"] == json!(12.50),
        "{item}"
    );
    assert!(
        item["active"] == json!(true) || item["active"] == json!(1),
        "{item}"
    );
    // XML: the same row, text escaped, NULL marked.
    let (status, xml) = send(
        reqwest::Method::GET,
        ferry.url(&format!("{svc}/items/{id}")),
        None,
        Some("application/xml"),
    )
    .await;
    assert_eq!(status, 200, "{xml}");
    assert!(
        xml.contains("<name>Zoë 東京 🚀 \"quoted\" &lt;tag&gt; &amp; 'apostrophe'</name>"),
        "{xml}"
    );
    assert!(xml.contains("<note xsi:nil=\"true\"/>"), "{xml}");

    // SQL injection in a string parameter: bound as text, so it matches nothing and drops
    // nothing; stored as a name, it reads back as written.
    for attack in [
        "x' OR '1'='1",
        "'; DROP TABLE items; --",
        "\\'; DELETE FROM items; --",
        "1; DROP TABLE items",
    ] {
        let (status, body) = get(&ferry, &format!("{svc}/items?name={}", urlencode(attack))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(json_of(&body), json!({"items": {"item": []}}), "{attack}");
    }
    let attack = "Robert'); DROP TABLE items; --";
    let (status, body) = post(&ferry, &format!("{svc}/items"), json!({"name": attack})).await;
    assert_eq!(status, 201, "{body}");
    let (_, body) = get(&ferry, &format!("{svc}/items?name={}", urlencode(attack))).await;
    assert_eq!(json_of(&body)["items"]["item"][0]["name"], json!(attack));
    assert_eq!(count(&ferry).await, 2);

    // Injection in every typed parameter: refused before any SQL runs.
    for (param, value) in [
        ("qty", "1 OR 1=1"),
        ("qty", "1; DROP TABLE items"),
        ("price", "1 OR 1=1"),
        ("price", "12.5'--"),
        ("active", "true OR 1=1"),
        ("born", "2025-01-01' OR '1'='1"),
    ] {
        let (status, body) = get(
            &ferry,
            &format!("{svc}/search?{param}={}", urlencode(value)),
        )
        .await;
        assert_eq!(status, 400, "{param}={value}: {body}");
        assert!(
            body.contains(&format!("parameter \\\"{param}\\\"")),
            "{body}"
        );
        assert_clean(&body);
    }
    let (status, body) = get(&ferry, &format!("{svc}/items/1%20OR%201=1")).await;
    assert_eq!(status, 400, "{body}");
    // Each type that fits does bind.
    let (status, body) = get(
        &ferry,
        &format!("{svc}/search?qty=3&price=12.50&active=true&born=1990-04-02"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(json_of(&body), json!([{"id": id}]));

    // Type mismatches, missing values, validation.
    for (body, what) in [
        (json!({"name": "a", "qty": "ten"}), "qty"),
        (json!({"name": "a", "qty": -1}), "qty"),
        (json!({"name": "a", "born": "2025-02-30"}), "born"),
        (json!({"name": "a", "price": "1e5"}), "price"),
        (json!({"name": "a", "active": "maybe"}), "active"),
        (json!({"qty": 1}), "name"),
        (json!({"name": {"nested": 1}}), "name"),
    ] {
        let (status, answer) = post(&ferry, &format!("{svc}/items"), body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(answer.contains(what), "{answer}");
    }
    let (status, body) = post(&ferry, &format!("{svc}/items"), json!(["not", "an object"])).await;
    assert_eq!(status, 400, "{body}");
    // A value the database itself refuses (too long for VARCHAR(100)); SQLite does not check.
    if kind != Kind::Sqlite {
        let (status, body) = post(
            &ferry,
            &format!("{svc}/items"),
            json!({"name": "x".repeat(150)}),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert_clean(&body);
    }

    // A constraint violation is a 409 in our words.
    let (status, body) = post(&ferry, &format!("{svc}/items"), json!({"name": unicode})).await;
    assert_eq!(status, 409, "{body}");
    assert_clean(&body);
    assert_eq!(json_of(&body)["error"]["code"], json!(800409));

    // Not found.
    let (status, body) = get(&ferry, &format!("{svc}/items/999999")).await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = send(
        reqwest::Method::DELETE,
        ferry.url(&format!("{svc}/items/999999")),
        None,
        None,
    )
    .await;
    assert_eq!(status, 404);

    // A request box failing half-way writes nothing: the item is inserted, then the audit
    // row collides, and the item is rolled back.
    let (status, body) = post(
        &ferry,
        &format!("{svc}/box"),
        json!({"name": "boxed-1", "id": 1, "what": "first"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(count(&ferry).await, 3);
    let (status, body) = post(
        &ferry,
        &format!("{svc}/box"),
        json!({"name": "boxed-2", "id": 2, "what": "first"}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_clean(&body);
    assert_eq!(
        count(&ferry).await,
        3,
        "the half-done request box was rolled back"
    );
    let (_, body) = get(&ferry, &format!("{svc}/items?name=boxed-2")).await;
    assert_eq!(json_of(&body), json!({"items": {"item": []}}));

    // A batch: all or nothing.
    let (status, body) = post(
        &ferry,
        &format!("{svc}/items/batch"),
        json!([{"name": "b1"}, {"name": "b2", "qty": 2}]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(json_of(&body), json!({"rowsAffected": 2}));
    let (status, body) = post(
        &ferry,
        &format!("{svc}/items/batch"),
        json!([{"name": "b3"}, {"name": "b1"}]),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    let (_, body) = get(&ferry, &format!("{svc}/items?name=b3")).await;
    assert_eq!(
        json_of(&body),
        json!({"items": {"item": []}}),
        "b3 was rolled back"
    );
    let (status, body) = post(&ferry, &format!("{svc}/items/batch"), json!({"name": "b4"})).await;
    assert_eq!(status, 400, "{body}");

    // Update then read, in one transaction.
    let (status, body) = send(
        reqwest::Method::PUT,
        ferry.url(&format!("{svc}/items/{id}/active")),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(json_of(&body)["id"], json!(id));

    // Delete.
    let (status, body) = send(
        reqwest::Method::DELETE,
        ferry.url(&format!("{svc}/items/{id}")),
        None,
        None,
    )
    .await;
    assert_eq!((status, json_of(&body)), (200, json!({"rowsAffected": 1})));

    // dbReport with useTransaction: the second statement collides, nothing is written.
    let (status, body) = post(
        &ferry,
        "/flows/report",
        json!({"id": 7, "what": "r1", "second": "r2"}),
    )
    .await;
    assert_eq!((status, json_of(&body)), (200, json!({"reported": true})));
    let (status, body) = post(
        &ferry,
        "/flows/report",
        json!({"id": 8, "what": "r3", "second": "r1"}),
    )
    .await;
    // The fault sequence answers; the status stays the fault's.
    assert_eq!(status, 409, "{body}");
    assert_eq!(json_of(&body), json!({"failed": "800409"}));
    let (_, body) = get(&ferry, "/flows/lookup/r3").await;
    assert_eq!(
        json_of(&body),
        json!({"id": "", "what": ""}),
        "r3 was rolled back"
    );
    let (_, body) = get(&ferry, "/flows/lookup/r2").await;
    assert_eq!(json_of(&body), json!({"id": "7", "what": "r2"}));
    // dbLookup's parameter is bound too.
    let (_, body) = get(
        &ferry,
        &format!("/flows/lookup/{}", urlencode("r2' OR '1'='1")),
    )
    .await;
    assert_eq!(json_of(&body), json!({"id": "", "what": ""}));
    // A value that is not of its type is a 400 from the mediator.
    let (status, body) = post(
        &ferry,
        "/flows/report",
        json!({"id": "seven", "what": "x", "second": "y"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(json_of(&body), json!({"failed": "800400"}));

    let log = ferry.log();
    assert!(!log.contains("panicked"), "{log}");
}

#[tokio::test]
async fn a_data_service_on_sqlite_keeps_its_contract() {
    data_service_contract(Kind::Sqlite).await;
}

#[tokio::test]
async fn a_data_service_on_postgresql_keeps_its_contract() {
    data_service_contract(Kind::Postgres).await;
}

#[tokio::test]
async fn a_data_service_on_mariadb_keeps_its_contract() {
    data_service_contract(Kind::Mariadb).await;
}

/// The peak resident memory of a process, from /proc.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// 100,000 rows of about 230 bytes (23 MB of JSON) stream through: ferry's peak memory
/// grows by a small fraction of the answer.
async fn streams_in_bounded_memory(kind: Kind) {
    let Some(db) = Db::create(kind, "stream") else {
        return;
    };
    let (ferry, _dir) = start(&db);
    // Warm up (pool, first statement) so the measure is the stream's.
    let (status, body) = get(&ferry, "/services/items/many?n=10").await;
    assert_eq!(status, 200, "{body}");
    let before = peak_rss_kib(ferry.pid());
    let resp = client()
        .get(ferry.url("/services/items/many?n=100000"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        resp.headers().get("content-length").is_none(),
        "the answer is streamed"
    );
    let body = resp.bytes().await.unwrap();
    let after = peak_rss_kib(ferry.pid());
    let value: Value = serde_json::from_slice(&body).unwrap();
    let rows = value["rows"]["row"].as_array().unwrap();
    assert_eq!(rows.len(), 100_000);
    assert_eq!(rows[99_999]["n"], json!(100_000));
    let grew_mib = after.saturating_sub(before) / 1024;
    eprintln!(
        "{kind:?}: {} MB answered, peak RSS {} -> {} KiB (+{grew_mib} MiB)",
        body.len() / 1_000_000,
        before,
        after
    );
    assert!(body.len() > 20_000_000);
    assert!(
        grew_mib < 10,
        "ferry's peak RSS grew by {grew_mib} MiB for a streamed answer"
    );
}

#[tokio::test]
async fn a_hundred_thousand_rows_stream_in_bounded_memory_on_sqlite() {
    streams_in_bounded_memory(Kind::Sqlite).await;
}

#[tokio::test]
async fn a_hundred_thousand_rows_stream_in_bounded_memory_on_postgresql() {
    streams_in_bounded_memory(Kind::Postgres).await;
}

#[tokio::test]
async fn a_hundred_thousand_rows_stream_in_bounded_memory_on_mariadb() {
    streams_in_bounded_memory(Kind::Mariadb).await;
}

/// A PostgreSQL server of this test's own, in a temporary directory.
struct PrivatePostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    /// Server options besides the port and address (TLS).
    options: String,
}

impl PrivatePostgres {
    fn start() -> Result<PrivatePostgres, String> {
        Self::start_with(None)
    }

    /// A server that also accepts TLS, with the certificate `server`.
    fn start_tls(server: &ferry_tests::tls::Pem) -> Result<PrivatePostgres, String> {
        Self::start_with(Some(server))
    }

    fn start_with(tls: Option<&ferry_tests::tls::Pem>) -> Result<PrivatePostgres, String> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .map_err(|e| format!("no /usr/lib/postgresql: {e}"))?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .find(|p| p.join("initdb").exists())
            .ok_or("no initdb under /usr/lib/postgresql/*/bin")?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        // PostgreSQL refuses to run as root: then its tools run as the `postgres` user,
        // which must own the directory.
        if is_root() {
            let _ = Command::new("chown")
                .arg("-R")
                .arg("postgres")
                .arg(dir.path())
                .status();
        }
        let ok = as_postgres(&bin.join("initdb"))
            .args(["-A", "trust", "-U", "postgres", "-D"])
            .arg(dir.path().join("data"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("initdb: {e}"))?;
        if !ok.success() {
            return Err("initdb failed (running as root?)".into());
        }
        let mut options = String::new();
        if let Some(server) = tls {
            let data = dir.path().join("data");
            for (name, pem) in [("server.crt", &server.cert), ("server.key", &server.key)] {
                let path = data.join(name);
                std::fs::write(&path, pem).map_err(|e| e.to_string())?;
                // PostgreSQL refuses a key others can read, or one it does not own.
                let _ = Command::new("chmod").arg("600").arg(&path).status();
                if is_root() {
                    let _ = Command::new("chown").arg("postgres").arg(&path).status();
                }
            }
            options = " -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key".into();
        }
        let pg = PrivatePostgres {
            bin,
            dir,
            port,
            options,
        };
        pg.ctl("start")?;
        Ok(pg)
    }

    fn ctl(&self, action: &str) -> Result<(), String> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1{}",
            self.port,
            self.dir.path().display(),
            self.options
        );
        let mut cmd = as_postgres(&self.bin.join("pg_ctl"));
        cmd.args(["-D"]).arg(self.dir.path().join("data"));
        cmd.args(["-w", "-t", "60", "-m", "fast", "-o", &options]);
        cmd.arg("-l").arg(self.dir.path().join("log"));
        cmd.arg(action);
        let status = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("pg_ctl {action}: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("pg_ctl {action} failed"))
        }
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `program`, run as the `postgres` user when this test runs as root.
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.ctl("stop");
    }
}

#[tokio::test]
async fn requests_during_a_database_restart_fail_cleanly_and_the_pool_recovers() {
    let pg = match PrivatePostgres::start() {
        Ok(pg) => pg,
        Err(reason) => {
            eprintln!("skipped: cannot run a private PostgreSQL: {reason}");
            return;
        }
    };
    let db = Db {
        kind: Kind::Postgres,
        name: "postgres".into(),
        port: pg.port,
    };
    let (ferry, _dir) = start(&db);
    let (status, body) = post(&ferry, "/services/items/items", json!({"name": "before"})).await;
    assert_eq!(status, 201, "{body}");

    let url = ferry.url("/services/items/count");
    let stream = tokio::spawn(async move {
        let mut statuses: Vec<u16> = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut ok_after_outage = 0;
        let mut saw_outage = false;
        while Instant::now() < deadline && ok_after_outage < 20 {
            let resp = client().get(&url).send().await.unwrap();
            let status = resp.status().as_u16();
            let body = resp.text().await.unwrap();
            if status != 200 {
                assert_eq!(status, 503, "{body}");
                assert_clean(&body);
                assert!(body.contains("800503"), "{body}");
                saw_outage = true;
            } else if saw_outage {
                ok_after_outage += 1;
            }
            statuses.push(status);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        (statuses, saw_outage, ok_after_outage)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Down for longer than the pool's acquireTimeout (2 s): a shorter outage is waited
    // out by the pool, and the requests succeed late instead of failing.
    pg.ctl("stop").unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    pg.ctl("start").unwrap();
    let (statuses, saw_outage, ok_after) = stream.await.unwrap();
    let summary = format!(
        "{} answers, {} of them 503",
        statuses.len(),
        statuses.iter().filter(|s| **s == 503).count()
    );
    assert!(saw_outage, "no request saw the database down: {summary}");
    assert!(ok_after >= 20, "the pool did not recover: {summary}");
    // The data written before the restart is there.
    let (_, body) = get(&ferry, "/services/items/items?name=before").await;
    assert_eq!(json_of(&body)["items"]["item"][0]["name"], json!("before"));
    drop(db); // the private server's `postgres` database is not dropped; the server goes.
}

#[tokio::test]
async fn validate_refuses_bad_data_services_with_located_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "apiVersion: ferry.dev/v1alpha1
kind: DataSource
metadata: {name: db}
spec: {type: postgres, url: \"mysql://x\", tls: {mode: require}}
---
apiVersion: ferry.dev/v1alpha1
kind: DataService
metadata: {name: svc}
spec:
  dataSource: nope
  queries:
    - name: q
      sql: SELECT * FROM t WHERE a = :a AND b = :b
      params: [{name: a, type: integer, default: x}]
  resources:
    - {method: GET, path: /x, query: missing}
---
apiVersion: ferry.dev/v1alpha1
kind: Sequence
metadata: {name: s}
spec:
  mediators:
    - dbLookup:
        connection: {url: \"postgres://x\"}
        statements: [{sql: \"SELECT ?\", parameters: []}]
",
    )
    .unwrap();
    let out = ferry_tests::validate(&[&file]);
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    for expected in [
        "DataSource/db spec.url: a postgres url starts with postgres://",
        "DataSource/db spec.tls.mode: require encrypts without verifying",
        "DataService/svc spec.dataSource: data source \"nope\" is not defined",
        "DataService/svc spec.queries[0].params[0].default: parameter \"a\": expected an integer",
        "DataService/svc spec.queries[0].sql: parameter :b is not declared in params",
        "DataService/svc spec.resources[0].query: query \"missing\" is not defined",
        "Sequence/s spec.mediators[0].dbLookup.connection: inline connections",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[tokio::test]
async fn the_clinic_sample_serves_doctors_from_embedded_sqlite() {
    let root = ferry_tests::workspace_root();
    let sample: &Path = &root.join("config/samples/data");
    let ferry = Ferry::start(&[sample], &[]);
    let (status, body) = get(&ferry, "/services/clinic/doctors/1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(json_of(&body)["name"], json!("thomas collins"));
    let (status, body) = get(&ferry, "/services/clinic/doctors?category=surgery&limit=2").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        json_of(&body)["doctors"]["doctor"].as_array().map(Vec::len),
        Some(2)
    );
    let (status, body) = post(
        &ferry,
        "/services/clinic/appointments",
        json!({"doctorId": 1, "patient": "John Doe", "appointmentDate": "2025-04-02"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let number = json_of(&body)["appointments"]["appointment"][0]["appointmentNumber"]
        .as_i64()
        .unwrap();
    let (status, body) = send(
        reqwest::Method::PUT,
        ferry.url(&format!(
            "/services/clinic/appointments/{number}/confirmation"
        )),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(json_of(&body)["confirmed"], json!(true));
    let (status, body) = get(&ferry, "/clinic/doctors/thomas%20collins/fee").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(json_of(&body)["fee"], json!(7000));
    let (status, _) = get(&ferry, "/clinic/doctors/nobody/fee").await;
    assert_eq!(status, 404);
}

fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A data source `wrong` of `type_` at `url` that verifies the server with a CA
/// (`other.pem`) that did not issue its certificate, and its data service.
fn wrong_ca_source(type_: &str, url: &str) -> String {
    format!(
        "apiVersion: ferry.dev/v1alpha1
kind: DataSource
metadata: {{name: wrong}}
spec:
  type: {type_}
  url: {url}
  tls: {{mode: verifyFull, caFile: other.pem}}
  pool: {{acquireTimeoutMs: 2000}}
{}",
        probe_service("wrong", "SELECT 1 AS one")
    )
}

/// A data service `name` on the data source of that name, answering `sql`'s one row at
/// /services/<name>/probe.
fn probe_service(name: &str, sql: &str) -> String {
    format!(
        "---
apiVersion: ferry.dev/v1alpha1
kind: DataService
metadata: {{name: {name}}}
spec:
  dataSource: {name}
  queries:
    - name: probe
      sql: \"{sql}\"
      result: {{single: true}}
  resources:
    - {{method: GET, path: /probe, query: probe}}
"
    )
}

/// The `wrong` data service is refused for its server's certificate, never connected to
/// in plain text.
async fn assert_untrusted_server_refused(ferry: &Ferry) {
    let (status, body) = get(ferry, "/services/wrong/probe").await;
    assert_eq!(status, 503, "{body}");
    let said = format!("{body}\n{}", ferry.log());
    assert!(
        said.contains("UnknownIssuer") || said.contains("not signed by a trusted CA"),
        "{said}"
    );
}

/// The database-tls variant on a private server whose certificate (for localhost and
/// 127.0.0.1) a test CA issued: its data service and its PostgreSQL store over TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_over_tls_is_verified_for_data_services_and_the_store() {
    use ferry_tests::tls::{TestCa, Usage};
    let ca = TestCa::new("PostgreSQL CA");
    let server = ca.issue("postgres", &["localhost", "127.0.0.1"], Usage::Server);
    let other = TestCa::new("another CA");
    let pg = match PrivatePostgres::start_tls(&server) {
        Ok(pg) => pg,
        Err(reason) => {
            eprintln!("skipped: cannot run a private PostgreSQL: {reason}");
            return;
        }
    };
    let backend = ferry_tests::Backend::start(|_| ferry_tests::backend::Reply::json(json!({})));
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, &ca.cert).unwrap();
    std::fs::write(dir.path().join("other.pem"), &other.cert).unwrap();
    let variant = std::fs::read_to_string(
        ferry_tests::workspace_root().join("config/variants/database-tls/orders.yaml"),
    )
    .unwrap();
    let variant = variant
        .replace("localhost:5433", &format!("localhost:{}", pg.port))
        .replace(
            "/tmp/ferry-database-tls/ca.crt",
            &ca_path.display().to_string(),
        )
        // The forwarded orders go to a backend of the test, which shows what arrived.
        .replace(
            "127.0.0.1:8290/services/tls-orders/orders",
            &format!("127.0.0.1:{}/orders", backend.port()),
        );
    let file = dir.path().join("orders.yaml");
    std::fs::write(&file, variant).unwrap();
    let wrong = dir.path().join("wrong.yaml");
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", pg.port);
    std::fs::write(&wrong, wrong_ca_source("postgres", &url)).unwrap();
    let ferry = Ferry::start(&[&file, &wrong], &[]);

    // The data service's connection is encrypted, by the server's own account.
    let (status, body) = get(&ferry, "/services/tls-orders/session").await;
    assert_eq!(status, 200, "{body}\n{}", ferry.log());
    assert!(body.contains("true") && body.contains("TLSv1."), "{body}");
    let (status, body) = post(
        &ferry,
        "/services/tls-orders/orders",
        json!({"item": "tea", "qty": 2}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = get(&ferry, "/services/tls-orders/orders").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("tea"), "{body}");

    // The store over TLS stores, and its processor forwards.
    let resp = client()
        .post(ferry.url("/tls-orders"))
        .json(&json!({"item": "coffee", "qty": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202, "{}", ferry.log());
    let deadline = Instant::now() + Duration::from_secs(30);
    while !backend
        .requests()
        .iter()
        .any(|r| r.json()["item"] == "coffee")
    {
        assert!(Instant::now() < deadline, "not forwarded:\n{}", ferry.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    assert_untrusted_server_refused(&ferry).await;
    drop(ferry);
    drop(pg);
}

/// A MariaDB server of this test's own (Debian's `mariadbd`, as the machine's MariaDB runs),
/// with a fresh data folder and TLS on, with the certificate the test gives it.
struct PrivateMariadb {
    port: u16,
    process: ferry_tests::process::Process,
}

impl PrivateMariadb {
    fn start_tls(server: &ferry_tests::tls::Pem) -> Result<PrivateMariadb, String> {
        let mariadbd = ["/usr/sbin/mariadbd", "/usr/sbin/mysqld"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .ok_or("no mariadbd (Debian's mariadb-server)")?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let data = dir.path().join("data");
        // Root may run the server only when it says so; anyone else runs it as themselves.
        let user: &[&str] = if is_root() { &["--user=root"] } else { &[] };
        let installed = Command::new("mariadb-install-db")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args(user)
            // root@127.0.0.1 without a password, as the machine's server has it.
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("mariadb-install-db: {e}"))?;
        if !installed.success() {
            return Err("mariadb-install-db failed".into());
        }
        let (cert, key) = (dir.path().join("server.pem"), dir.path().join("server.key"));
        std::fs::write(&cert, &server.cert).map_err(|e| e.to_string())?;
        std::fs::write(&key, &server.key).map_err(|e| e.to_string())?;
        let port = ferry_tests::process::free_port();
        let mut cmd = Command::new(mariadbd);
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args(user)
            .arg(format!("--port={port}"))
            .args(["--bind-address=127.0.0.1", "--skip-name-resolve"])
            .arg(format!("--socket={}", dir.path().join("sock").display()))
            .arg(format!("--pid-file={}", dir.path().join("pid").display()))
            .arg(format!("--ssl-cert={}", cert.display()))
            .arg(format!("--ssl-key={}", key.display()));
        Ok(PrivateMariadb {
            port,
            process: ferry_tests::process::Process::spawn(cmd, dir, port, "mariadbd"),
        })
    }
}

/// Data sources on a private MariaDB over TLS: verified with `tls.caFile`, and verified as
/// the URL's own `ssl-mode` says.
const MARIADB_TLS_CONFIG: &str = "apiVersion: ferry.dev/v1alpha1
kind: DataSource
metadata: {name: good}
spec:
  type: mysql
  url: mysql://root@127.0.0.1:PORT/mysql
  tls: {caFile: ca.pem}
---
apiVersion: ferry.dev/v1alpha1
kind: DataSource
metadata: {name: byurl}
spec:
  type: mysql
  url: mysql://root@127.0.0.1:PORT/mysql?ssl-mode=VERIFY_IDENTITY&ssl-ca=CA_PATH
";

/// The session's TLS cipher, as the server sees it.
const MARIADB_CIPHER: &str = "SELECT VARIABLE_VALUE AS cipher FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'Ssl_cipher'";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_over_tls_is_verified_for_data_services() {
    use ferry_tests::tls::{TestCa, Usage};
    let ca = TestCa::new("MariaDB CA");
    let server = ca.issue("mariadb", &["127.0.0.1"], Usage::Server);
    let other = TestCa::new("another CA");
    let db = match PrivateMariadb::start_tls(&server) {
        Ok(db) => db,
        Err(reason) => {
            eprintln!("skipped: cannot run a private MariaDB: {reason}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, &ca.cert).unwrap();
    std::fs::write(dir.path().join("other.pem"), &other.cert).unwrap();
    let file = dir.path().join("tls.yaml");
    let mut config = MARIADB_TLS_CONFIG
        .replace("PORT", &db.port.to_string())
        .replace("CA_PATH", &ca_path.display().to_string());
    for name in ["good", "byurl"] {
        config.push_str(&probe_service(name, MARIADB_CIPHER));
    }
    config.push_str("---\n");
    let url = format!("mysql://root@127.0.0.1:{}/mysql", db.port);
    config.push_str(&wrong_ca_source("mysql", &url));
    std::fs::write(&file, config).unwrap();
    let ferry = Ferry::start(&[&file], &[]);

    // Both verified sessions are encrypted, by the server's own account.
    for name in ["good", "byurl"] {
        let (status, body) = get(&ferry, &format!("/services/{name}/probe")).await;
        assert_eq!(
            status,
            200,
            "{name}: {body}\n{}\n{}",
            ferry.log(),
            db.process.log()
        );
        let cipher = json_of(&body).to_string();
        assert!(
            cipher.contains("TLS_") || cipher.contains("AES"),
            "{name}: {body}"
        );
    }

    assert_untrusted_server_refused(&ferry).await;
}
