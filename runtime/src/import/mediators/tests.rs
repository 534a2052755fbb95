use serde_json::json;

use super::*;
use crate::import::names::Names;
use crate::import::report::Status;

/// Converts the mediators inside `<sequence>` + `xml` + `</sequence>`; returns the mediators
/// and the report lines.
fn convert(xml: &str) -> (Vec<Value>, Vec<crate::import::report::Entry>) {
    let text =
        format!("<sequence name=\"s\" xmlns=\"http://ws.apache.org/ns/synapse\">{xml}</sequence>");
    let root = crate::import::dom::parse(&text).expect("test XML parses");
    let mut names = Names::default();
    names.assign(Family::Sequence, "Other_Seq");
    names.assign(Family::Endpoint, "StockEP");
    names.assign(Family::Store, "Orders Store");
    names.assign(Family::Template, "LogTemplate");
    let mut cx = Cx::new("test.xml", &text, &names);
    let out = list(&mut cx, &root);
    (out, cx.entries)
}

#[test]
fn log_property_and_variable_keep_every_attribute() {
    let (out, report) = convert(
        r#"<log level="custom" category="WARN" separator="|"><property name="id" expression="$ctx:id"/><property name="k" value="v"/></log>
           <property name="HTTP_SC" value="201" scope="axis2" type="STRING"/>
           <property name="x" action="remove"/>
           <variable name="n" type="INTEGER" expression="${payload.n}"/>"#,
    );
    assert!(report.is_empty(), "{report:?}");
    assert_eq!(
        out,
        vec![
            json!({"log": {"level": "custom", "category": "WARN", "separator": "|", "properties": [
                {"name": "id", "expression": "$ctx:id"}, {"name": "k", "value": "v"}]}}),
            json!({"property": {"name": "HTTP_SC", "value": "201", "scope": "axis2", "type": "STRING"}}),
            json!({"property": {"name": "x", "action": "remove"}}),
            json!({"variable": {"name": "n", "expression": "${payload.n}", "type": "INTEGER"}}),
        ]
    );
}

#[test]
fn references_are_rewritten_to_kubernetes_names() {
    let (out, report) = convert(
        r#"<sequence key="Other_Seq"/><call><endpoint key="StockEP"/></call><store messageStore="Orders Store"/>
           <call-template target="LogTemplate"><with-param name="a" value="1"/><with-param name="b" value="{$ctx:b}"/></call-template>"#,
    );
    assert!(report.is_empty(), "{report:?}");
    assert_eq!(
        out,
        vec![
            json!({"sequence": {"key": "other-seq"}}),
            json!({"call": {"endpoint": {"key": "stock-ep"}}}),
            json!({"store": {"messageStore": "orders-store"}}),
            json!({"callTemplate": {"target": "log-template", "withParams": [
                {"name": "a", "value": "1"}, {"name": "b", "expression": "$ctx:b"}]}}),
        ]
    );
}

#[test]
fn filter_switch_and_payload_factory_nest_and_keep_inline_xml() {
    let (out, report) = convert(
        r#"<filter source="$ctx:a" regex="x.*"><then><drop/></then><else><respond/></else></filter>
           <filter xpath="${var.ok}"><log/></filter>
           <switch source="json-eval($.kind)"><case regex="a"><loopback/></case><default><drop/></default></switch>
           <payloadFactory media-type="xml"><format><m:q xmlns:m="urn:q"><m:s>$1</m:s></m:q></format><args><arg evaluator="json" expression="$.sym"/></args></payloadFactory>"#,
    );
    assert!(report.is_empty(), "{report:?}");
    assert_eq!(
        out[0],
        json!({"filter": {"source": "$ctx:a", "regex": "x.*", "then": [{"drop": {}}], "else": [{"respond": {}}]}})
    );
    assert_eq!(
        out[1],
        json!({"filter": {"expression": "${var.ok}", "then": [{"log": {}}]}})
    );
    assert_eq!(
        out[2],
        json!({"switch": {"source": "json-eval($.kind)", "cases": [{"regex": "a", "sequence": [{"loopback": {}}]}], "default": [{"drop": {}}]}})
    );
    assert_eq!(
        out[3],
        json!({"payloadFactory": {"format": "<m:q xmlns:m=\"urn:q\"><m:s>$1</m:s></m:q>", "args": [{"expression": "$.sym", "evaluator": "json"}]}})
    );
}

#[test]
fn unsupported_mediators_and_attributes_are_reported_with_their_place() {
    let (out, report) = convert(
        "<log/>\n<datamapper config=\"x\"/>\n<class name=\"a.B\"/>\n<log levl=\"full\"/>\n<frobnicate/>",
    );
    assert_eq!(out, vec![json!({"log": {}}), json!({"log": {}})]);
    let lines: Vec<(Status, u32, &str)> = report
        .iter()
        .map(|e| (e.status, e.line, e.path.as_str()))
        .collect();
    assert_eq!(
        lines,
        vec![
            (Status::NotImported, 2, "datamapper"),
            (Status::NotImported, 3, "class"),
            (Status::NotImported, 4, "log[2]/@levl"),
            (Status::NotImported, 5, "frobnicate"),
        ]
    );
    assert!(
        report[0].message.contains("datamapper"),
        "{}",
        report[0].message
    );
}

#[test]
fn clone_iterate_aggregate_and_foreach_map_their_targets() {
    let (out, report) = convert(
        r#"<clone continueParent="true"><target sequence="Other_Seq"/><target><endpoint key="StockEP"/></target></clone>
           <iterate expression="//item" preservePayload="true" attachPath="//items"><target><sequence><log/></sequence></target></iterate>
           <aggregate id="a"><completeCondition timeout="5"><messageCount min="-1" max="3"/></completeCondition><onComplete expression="//item"><respond/></onComplete></aggregate>
           <foreach collection="${payload.items}" parallel-execution="false" result-target="items" counter-variable="i"><sequence><log/></sequence></foreach>"#,
    );
    assert_eq!(report.len(), 1, "{report:?}");
    assert_eq!(report[0].status, Status::Adjusted);
    assert_eq!(
        out[0],
        json!({"clone": {"continueParent": true, "targets": [
        {"sequence": [{"sequence": {"key": "other-seq"}}]}, {"endpoint": {"key": "stock-ep"}}]}})
    );
    assert_eq!(
        out[1],
        json!({"iterate": {"expression": "//item", "preservePayload": true, "attachPath": "//items",
        "target": {"sequence": [{"log": {}}]}}})
    );
    assert_eq!(
        out[2],
        json!({"aggregate": {"id": "a", "completeCondition": {"timeout": 5000, "messageCount": {"min": -1, "max": 3}},
        "onComplete": {"expression": "//item", "sequence": [{"respond": {}}]}}})
    );
    assert_eq!(
        out[3],
        json!({"foreach": {"collection": "${payload.items}", "parallelExecution": false, "resultTarget": "items",
        "counterVariable": "i", "sequence": [{"log": {}}]}})
    );
}

#[test]
fn inline_endpoints_in_call_and_send_become_inline_definitions() {
    let (out, report) = convert(
        r#"<call blocking="true"><endpoint><http uri-template="http://b/{uri.var.id}" method="GET"><timeout><duration>2000</duration><responseAction>fault</responseAction></timeout><suspendOnFailure><errorCodes>101503</errorCodes><initialDuration>1000</initialDuration></suspendOnFailure></http></endpoint></call>
           <send><endpoint><address uri="http://b/x" format="pox"/></endpoint></send>"#,
    );
    assert_eq!(
        out[0],
        json!({"call": {"endpoint": {
        "http": {"uriTemplate": "http://b/{uri.var.id}", "method": "get"},
        "timeout": {"duration": 2000, "responseAction": "fault"},
        "suspendOnFailure": {"errorCodes": [101503], "initialDuration": 1000}}, "blocking": true}})
    );
    assert_eq!(
        out[1],
        json!({"send": {"endpoint": {"address": {"uri": "http://b/x", "format": "pox"}}}})
    );
    // The address has no suspension settings: MI's default differs, so it is said.
    assert_eq!(report.len(), 1, "{report:?}");
    assert_eq!(report[0].status, Status::Adjusted);
}

#[test]
fn scatter_gather_and_validate_map_their_parts() {
    let (out, report) = convert(
        r#"<scatter-gather parallel-execution="true" result-target="quotes" content-type="JSON"><aggregation expression="${payload}" timeout="2000" min-messages="1"/><sequence><call><endpoint key="StockEP"/></call></sequence><sequence><drop/></sequence></scatter-gather>
           <validate source="json-eval($.order)"><schema key="OrderSchema"/><on-fail><drop/></on-fail></validate>"#,
    );
    assert!(report.is_empty(), "{report:?}");
    assert_eq!(
        out[0],
        json!({"scatterGather": {"resultTarget": "variable", "targetVariable": "quotes", "contentType": "JSON",
        "aggregation": {"expression": "${payload}", "timeout": 2000, "minMessages": 1},
        "sequences": [[{"call": {"endpoint": {"key": "stock-ep"}}}], [{"drop": {}}]]}})
    );
    assert_eq!(
        out[1],
        json!({"validate": {"source": "json-eval($.order)", "schemas": ["OrderSchema"], "onFail": [{"drop": {}}]}})
    );
}

#[test]
fn cache_finder_and_collector_map_with_seconds_as_milliseconds() {
    let (out, report) = convert(
        r#"<cache collector="false" timeout="60" maxMessageSize="2000"><onCacheHit><respond/></onCacheHit><protocol type="HTTP"><methods>GET, HEAD</methods><responseCodes>2[0-9][0-9]</responseCodes><enableCacheControl>false</enableCacheControl><includeAgeHeader>true</includeAgeHeader></protocol><implementation maxSize="500"/></cache>
           <call><endpoint key="StockEP"/></call><cache collector="true"/>"#,
    );
    assert_eq!(report.len(), 1, "{report:?}");
    assert_eq!(
        out[0],
        json!({"cache": {"timeout": 60000, "maxMessageSize": 2000, "onCacheHit": [{"respond": {}}],
        "protocol": {"methods": ["GET", "HEAD"], "responseCodes": "2[0-9][0-9]", "includeAgeHeader": true}, "maxSize": 500}})
    );
    assert_eq!(out[2], json!({"cache": {"collector": true}}));
}

#[test]
fn dblookup_dbreport_and_jsontransform_map_their_parts() {
    let (out, report) = convert(
        r#"<dblookup><connection><pool><dsName>clinic</dsName></pool></connection>
             <statement><sql>SELECT fee FROM doctors WHERE name = ?</sql>
               <parameter expression="$ctx:doctor" type="VARCHAR"/><result name="fee" column="fee"/></statement></dblookup>
           <dbreport useTransaction="true"><connection><pool><dsName>clinic</dsName></pool></connection>
             <statement><sql>UPDATE doctors SET fee = ? WHERE name = ?</sql>
               <parameter value="7500" type="NUMERIC"/><parameter expression="$ctx:doctor" type="VARCHAR"/></statement></dbreport>
           <jsontransform schema="Banner"><property name="synapse.commons.json.output.autoPrimitive" value="false"/></jsontransform>
           <dblookup><connection><pool><driver>org.postgresql.Driver</driver><url>jdbc:postgresql://db/x</url></pool></connection>
             <statement><sql>SELECT 1</sql></statement></dblookup>"#,
    );
    assert_eq!(
        out,
        vec![
            json!({"dbLookup": {"connection": {"dsName": "clinic"}, "statements": [{
                "sql": "SELECT fee FROM doctors WHERE name = ?",
                "parameters": [{"expression": "$ctx:doctor", "type": "VARCHAR"}],
                "results": [{"name": "fee", "column": "fee"}]}]}}),
            json!({"dbReport": {"connection": {"dsName": "clinic"}, "useTransaction": true, "statements": [{
                "sql": "UPDATE doctors SET fee = ? WHERE name = ?",
                "parameters": [{"value": "7500", "type": "NUMERIC"}, {"expression": "$ctx:doctor", "type": "VARCHAR"}]}]}}),
            json!({"jsonTransform": {"schema": "Banner", "properties": [
                {"name": "synapse.commons.json.output.autoPrimitive", "value": "false"}]}}),
        ]
    );
    assert_eq!(report.len(), 1, "{report:?}");
    assert_eq!(report[0].status, Status::NotImported);
    assert_eq!(report[0].path, "dblookup[2]");
    assert!(
        report[0].message.contains("declare a DataSource"),
        "{report:?}"
    );
}

const POLICY: &str = r#"<wsp:Policy xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy" xmlns:throttle="http://www.wso2.org/products/wso2commons/throttle">
  <throttle:MediatorThrottleAssertion>
    <throttle:MaximumConcurrentAccess>3</throttle:MaximumConcurrentAccess>
    <wsp:Policy>
      <throttle:ID throttle:type="IP">other</throttle:ID>
      <wsp:Policy><throttle:Control><wsp:Policy>
        <throttle:MaximumCount>4</throttle:MaximumCount>
        <throttle:UnitTime>60000</throttle:UnitTime>
      </wsp:Policy></throttle:Control></wsp:Policy>
    </wsp:Policy>
    <wsp:Policy>
      <throttle:ID throttle:type="IP">10.0.0.9</throttle:ID>
      <wsp:Policy><throttle:Deny/></wsp:Policy>
    </wsp:Policy>
    <wsp:Policy>
      <throttle:ID throttle:type="IP">127.0.0.1</throttle:ID>
      <wsp:Policy><throttle:Allow/></wsp:Policy>
    </wsp:Policy>
  </throttle:MediatorThrottleAssertion>
</wsp:Policy>"#;

#[test]
fn throttle_maps_its_inline_policy_with_other_last_and_both_handlers() {
    let (out, report) = convert(&format!(
        r#"<throttle id="A" onReject="Other_Seq"><policy>{POLICY}</policy><onAccept><log/></onAccept><onReject><drop/></onReject></throttle>"#
    ));
    assert!(report.is_empty(), "{report:?}");
    assert_eq!(
        out,
        vec![json!({"throttle": {
            "id": "A",
            "policy": {"maxConcurrentAccess": 3, "rules": [
                {"range": "10.0.0.9", "access": "deny"},
                {"range": "127.0.0.1", "access": "allow"},
                {"range": "other", "maxCount": 4, "unitTime": 60000},
            ]},
            "onAccept": [{"log": {}}],
            "onReject": [{"sequence": {"key": "other-seq"}}, {"drop": {}}],
        }})]
    );
}

#[test]
fn throttle_reads_a_policy_key_from_the_imports_local_entries_or_reports_it() {
    let entry = format!("<localEntry key=\"Policy_A\">{POLICY}</localEntry>");
    let entry = crate::import::dom::parse(&entry).expect("parses");
    let mut entries = crate::import::cx::Elements::new();
    entries.insert("Policy_A".into(), entry);
    let text = r#"<sequence name="s"><throttle id="A"><policy key="Policy_A"/><onAccept><log/></onAccept></throttle>
<throttle id="B"><policy key="gov:/policies/b.xml"/></throttle></sequence>"#;
    let root = crate::import::dom::parse(text).expect("parses");
    let names = Names::default();
    let mut cx = Cx::new("test.xml", text, &names).with_lookups(&entries, &entries);
    let out = list(&mut cx, &root);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(
        out[0]["throttle"]["policy"]["rules"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    let lines: Vec<(Status, u32, &str)> = cx
        .entries
        .iter()
        .map(|e| (e.status, e.line, e.message.as_str()))
        .collect();
    assert_eq!(lines[0].0, Status::Adjusted);
    assert!(
        lines[0]
            .2
            .contains("local entry Policy_A is written inline"),
        "{lines:?}"
    );
    assert!(lines[1].2.contains("without onReject"), "{lines:?}");
    assert_eq!(lines[2].0, Status::NotImported);
    assert_eq!(lines[2].1, 2);
    assert!(
        lines[2]
            .2
            .contains("gov:/policies/b.xml is not a local entry"),
        "{lines:?}"
    );
}

#[test]
fn throttle_parts_ferry_does_not_count_are_reported_and_left_out() {
    let (out, report) = convert(
        r#"<throttle id="C"><policy><wsp:Policy xmlns:wsp="p" xmlns:throttle="t"><throttle:MediatorThrottleAssertion>
  <throttle:MaximumConcurrentAccess>5</throttle:MaximumConcurrentAccess>
  <wsp:Policy><throttle:ID throttle:type="DOMAIN">example.org</throttle:ID><wsp:Policy><throttle:Deny/></wsp:Policy></wsp:Policy>
  <wsp:Policy><throttle:ID throttle:type="IP">10.0.0.1-10.0.0.9</throttle:ID><wsp:Policy><throttle:Deny/></wsp:Policy></wsp:Policy>
  <wsp:Policy><throttle:ID throttle:type="IP">other</throttle:ID><wsp:Policy><throttle:Control><wsp:Policy>
    <throttle:MaximumCount>2</throttle:MaximumCount><throttle:UnitTime>1000</throttle:UnitTime><throttle:ProhibitTimePeriod>5000</throttle:ProhibitTimePeriod>
  </wsp:Policy></throttle:Control></wsp:Policy></wsp:Policy>
</throttle:MediatorThrottleAssertion></wsp:Policy></policy><onReject><drop/></onReject></throttle>
<throttle id="D"><policy><wsp:Policy xmlns:wsp="p" xmlns:throttle="t"><throttle:MediatorThrottleAssertion>
  <throttle:MaximumConcurrentAccess>0</throttle:MaximumConcurrentAccess>
</throttle:MediatorThrottleAssertion></wsp:Policy></policy></throttle>"#,
    );
    assert_eq!(
        out,
        vec![json!({"throttle": {"id": "C", "policy": {"rules": [
            {"range": "other", "maxCount": 2, "unitTime": 1000}]}, "onReject": [{"drop": {}}]}})]
    );
    let lines: Vec<(u32, &str)> = report
        .iter()
        .filter(|e| e.status == Status::NotImported)
        .map(|e| (e.line, e.message.as_str()))
        .collect();
    let expect = [
        (3, "DOMAIN rule example.org"),
        (4, "address range 10.0.0.1-10.0.0.9"),
        (5, "ProhibitTimePeriod 5000 ms"),
        (1, "MaximumConcurrentAccess without onAccept"),
        (9, "no limit of this throttle's policy"),
    ];
    assert_eq!(lines.len(), expect.len(), "{lines:?}");
    for ((line, part), (got_line, got)) in expect.iter().zip(&lines) {
        assert_eq!(line, got_line, "{got}");
        assert!(got.contains(part), "{part}: {got}");
    }
}

#[test]
fn endpoint_authentication_becomes_basic_auth_or_oauth_with_secret_references() {
    let text = r#"<sequence name="s">
<call><endpoint><http uri-template="http://b/x"><authentication><basicAuth><username>u</username><password>pw</password></basicAuth></authentication></http></endpoint></call>
<call><endpoint><http uri-template="http://b/y"><authentication><oauth><clientCredentials>
  <clientId>ferry</clientId><clientSecret>$SYSTEM:OAUTH_SECRET</clientSecret><tokenUrl>http://t/token</tokenUrl><authMode>payload</authMode>
  <requestParameters><parameter name="scope">read write</parameter><parameter name="audience">orders</parameter><parameter name="resource">r1</parameter></requestParameters>
</clientCredentials></oauth></authentication></http></endpoint></call>
<call><endpoint><http uri-template="http://b/z"><authentication><oauth><passwordCredentials><clientId>c</clientId></passwordCredentials></oauth></authentication></http></endpoint></call>
</sequence>"#;
    let root = crate::import::dom::parse(text).expect("parses");
    let names = Names::default();
    let mut cx = Cx::new("test.xml", text, &names);
    cx.artifact = "orders-seq".into();
    let out = list(&mut cx, &root);
    let endpoint = |i: usize| out[i]["call"]["endpoint"].clone();
    assert_eq!(
        endpoint(0)["basicAuth"],
        json!({"username": "u", "passwordFrom": {"env": "ORDERS_SEQ_BASIC_AUTH_PASSWORD"}})
    );
    assert_eq!(
        endpoint(1)["oauth"],
        json!({"tokenUrl": "http://t/token", "clientId": "ferry",
            "clientSecretFrom": {"env": "OAUTH_SECRET"}, "scopes": ["read", "write"],
            "audience": "orders", "additionalParameters": {"resource": "r1"}, "authMode": "payload"})
    );
    assert_eq!(endpoint(2).get("oauth"), None);
    let lines: Vec<(Status, u32, &str)> = cx
        .entries
        .iter()
        .filter(|e| e.status != Status::Adjusted || e.message.contains("not copied"))
        .map(|e| (e.status, e.line, e.message.as_str()))
        .collect();
    assert!(
        lines.iter().any(|(s, l, m)| *s == Status::NotImported
            && *l == 7
            && m.contains("passwordCredentials grant")),
        "{lines:?}"
    );
    assert!(lines.iter().all(|(_, _, m)| !m.contains("pw")), "{lines:?}");
}
