use serde_json::{Value, json};

use crate::import::report::{Entry, Status};
use crate::import::{Imported, Options, SourceFile, import_sources};

fn import(dbs: &str) -> Imported {
    import_sources(
        &[SourceFile {
            name: "Staff.dbs".into(),
            text: dbs.to_string(),
        }],
        &Options::default(),
    )
}

/// The `spec` of the output at `path`.
fn spec(imported: &Imported, path: &str) -> Value {
    let out = imported
        .outputs
        .iter()
        .find(|o| o.path == path)
        .unwrap_or_else(|| panic!("no {path}: {:?}", imported.report.entries));
    let docs = ferry_api::bundle::yaml::parse_documents(&out.yaml).expect("the output is YAML");
    docs[0].value["spec"].clone()
}

fn lines(imported: &Imported, status: Status) -> Vec<&Entry> {
    imported
        .report
        .entries
        .iter()
        .filter(|e| e.status == status)
        .collect()
}

fn messages(imported: &Imported, status: Status) -> Vec<&str> {
    lines(imported, status)
        .iter()
        .map(|e| e.message.as_str())
        .collect()
}

const STAFF: &str = r##"<data name="Staff_Service" transports="http https">
  <description>People and their desks</description>
  <config id="staffdb">
    <property name="driverClassName">org.postgresql.Driver</property>
    <property name="url">jdbc:postgresql://127.0.0.1:5432/staff?ssl=false</property>
    <property name="username">staff</property>
    <property name="password">s3cret</property>
    <property name="maxActive">12</property>
    <property name="maxWait">3000</property>
    <property name="validationQuery">SELECT 1</property>
  </config>
  <query id="byDesk" useConfig="staffdb">
    <sql>SELECT id, full_name FROM people WHERE desk = ? AND age &gt;= ?</sql>
    <param name="minAge" sqlType="INTEGER" ordinal="2" defaultValue="18"><validateLongRange minimum="0" maximum="150"/></param>
    <param name="desk" sqlType="STRING" ordinal="1"><validateLength minimum="2" maximum="8"/></param>
    <result element="People" rowName="Person">
      <element name="personId" column="id" xsdType="integer"/>
      <element name="full_name" column="full_name"/>
    </result>
    <properties><property name="maxRows">50</property></properties>
  </query>
  <query id="hire" useConfig="staffdb" returnUpdatedRowCount="true">
    <sql>INSERT INTO people (full_name, desk) VALUES (:name, :desk)</sql>
    <param name="name" sqlType="VARCHAR"><validatePattern pattern="[A-Za-z ]+"/></param>
    <param name="desk" sqlType="STRING" optional="true" defaultValue="#{NULL}"/>
  </query>
  <query id="asJson" useConfig="staffdb">
    <sql>SELECT id, full_name FROM people</sql>
    <result outputType="json">{"Staff": {"Member": [{"id": "$id", "name": "$full_name"}]}}</result>
  </query>
  <operation name="getByDesk"><call-query href="byDesk"/></operation>
  <resource method="GET" path="desks/{d}">
    <call-query href="byDesk"><with-param name="desk" query-param="d"/><with-param name="minAge" query-param="minAge"/></call-query>
  </resource>
  <resource method="post" path="/people">
    <call-query href="hire"><with-param name="name" query-param="name"/><with-param name="desk" query-param="desk"/></call-query>
  </resource>
  <resource method="GET" path="/all"><call-query href="asJson"/></resource>
</data>
"##;

#[test]
fn a_data_service_becomes_a_data_service_and_its_data_source() {
    let imported = import(STAFF);
    let source = spec(&imported, "data-sources/staff-service.yaml");
    assert_eq!(
        source,
        json!({
            "type": "postgres",
            "url": "postgres://127.0.0.1:5432/staff",
            "username": "staff",
            "passwordFrom": {"env": "STAFF_SERVICE_PASSWORD"},
            "pool": {"maxConnections": 12, "acquireTimeoutMs": 3000},
        })
    );
    let service = spec(&imported, "data-services/staff-service.yaml");
    assert_eq!(service["dataSource"], json!("staff-service"));
    assert_eq!(service["description"], json!("People and their desks"));
    assert_eq!(service["outputType"], json!("xml"));
    assert_eq!(
        service["queries"][0],
        json!({
            "name": "byDesk",
            "sql": "SELECT id, full_name FROM people WHERE desk = :desk AND age >= :minAge",
            "params": [
                {"name": "minAge", "type": "integer", "default": "18", "minimum": 0, "maximum": 150},
                {"name": "desk", "maxLength": 8, "pattern": "(?s).{2,}"},
            ],
            "result": {"element": "People", "rowName": "Person", "columns": [
                {"column": "id", "name": "personId"}, {"column": "full_name"}]},
            "maxRows": 50,
        })
    );
    assert_eq!(
        service["queries"][1]["params"],
        json!([{"name": "name", "pattern": "[A-Za-z ]+"}, {"name": "desk", "optional": true}])
    );
    assert_eq!(service["queries"][1].get("result"), None);
    assert_eq!(
        service["queries"][2]["result"],
        json!({"element": "Staff", "rowName": "Member", "columns": [
            {"column": "id"}, {"column": "full_name", "name": "name"}]})
    );
    assert_eq!(
        service["resources"],
        json!([
            {"method": "GET", "path": "/desks/{desk}", "query": "byDesk"},
            {"method": "POST", "path": "/people", "query": "hire"},
            {"method": "GET", "path": "/all", "query": "asJson"},
        ])
    );
    // The password never reaches the YAML; the operation is reported where it is written.
    assert!(imported.outputs.iter().all(|o| !o.yaml.contains("s3cret")));
    let not_imported = lines(&imported, Status::NotImported);
    assert_eq!(not_imported.len(), 1, "{not_imported:?}");
    assert_eq!(not_imported[0].line, 31);
    assert!(not_imported[0].message.contains("SOAP operation getByDesk"));
    let adjusted = messages(&imported, Status::Adjusted);
    for part in [
        "STAFF_SERVICE_PASSWORD",
        "JDBC URL options",
        "validationQuery",
        "positional ?",
        "minimum length 2",
        "{d} is renamed {desk}",
        "XML here",
    ] {
        assert!(
            adjusted.iter().any(|m| m.contains(part)),
            "{part}: {adjusted:?}"
        );
    }
}

#[test]
fn what_a_data_service_cannot_map_is_reported_and_never_half_written() {
    let imported = import(
        r#"<data name="Legacy">
  <config id="ora"><property name="driverClassName">oracle.jdbc.OracleDriver</property><property name="url">jdbc:oracle:thin:@h:1521/x</property></config>
  <query id="q" useConfig="ora"><sql>SELECT 1</sql></query>
  <resource method="GET" path="/q"><call-query href="q"/></resource>
</data>"#,
    );
    assert!(imported.outputs.is_empty(), "{:?}", imported.outputs);
    let located: Vec<String> = lines(&imported, Status::NotImported)
        .iter()
        .map(|e| format!("{}: {}", e.line, e.message))
        .collect();
    assert!(
        located
            .iter()
            .any(|m| m.starts_with("2: the driver oracle.jdbc.OracleDriver")),
        "{located:?}"
    );
    assert!(
        located
            .iter()
            .any(|m| m.starts_with("1: the data service Legacy reads config ora")),
        "{located:?}"
    );

    let imported = import(
        r#"<data name="Procs">
  <config id="db"><property name="driverClassName">org.sqlite.JDBC</property><property name="url">jdbc:sqlite:procs.db</property></config>
  <query id="p" useConfig="db"><sql>CALL p(?, ?)</sql>
    <param name="a" sqlType="INTEGER" ordinal="1"/><param name="b" sqlType="INTEGER" type="OUT" ordinal="2"/></query>
  <query id="ok" useConfig="db"><sql>SELECT 1 AS one</sql><result element="R" rowName="r"><element name="one" column="one"/><call-query href="p"/></result></query>
  <resource method="GET" path="/p"><call-query href="p"/></resource>
  <resource method="GET" path="/ok"><call-query href="ok"/></resource>
</data>"#,
    );
    let service = spec(&imported, "data-services/procs.yaml");
    assert_eq!(
        service["resources"],
        json!([{"method": "GET", "path": "/ok", "query": "ok"}])
    );
    assert_eq!(
        spec(&imported, "data-sources/procs.yaml")["url"],
        json!("sqlite:procs.db")
    );
    let reasons = messages(&imported, Status::NotImported);
    for part in [
        "OUT parameter b",
        "nested queries",
        "calls the query p, which is not imported",
    ] {
        assert!(
            reasons.iter().any(|m| m.contains(part)),
            "{part}: {reasons:?}"
        );
    }
}
