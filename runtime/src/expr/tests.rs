//! Tests of expression evaluation against a fixture message.

use std::collections::HashMap;

use serde_json::{Value, json};

use ferry_api::expr::{Expression, Template};

use super::context::{ExprContext, PayloadError, PayloadView, PropertyScope};
use super::*;
use crate::xml::Element;

/// A message for tests, built fluently.
#[derive(Default)]
struct Msg {
    json: Option<Value>,
    xml: Option<Element>,
    vars: HashMap<String, Value>,
    props: HashMap<(PropertyScope, String), Value>,
    headers: Vec<(String, String)>,
    uri: HashMap<String, String>,
    query: HashMap<String, String>,
    func: HashMap<String, Value>,
    config: HashMap<String, String>,
}

impl Msg {
    fn json(payload: Value) -> Self {
        Msg {
            json: Some(payload),
            ..Msg::default()
        }
    }
    fn xml(payload: &str) -> Self {
        Msg {
            xml: Some(Element::parse(payload.as_bytes()).unwrap()),
            ..Msg::default()
        }
    }
    fn var(mut self, k: &str, v: Value) -> Self {
        self.vars.insert(k.into(), v);
        self
    }
    fn prop(mut self, scope: PropertyScope, k: &str, v: Value) -> Self {
        self.props.insert((scope, k.into()), v);
        self
    }
    fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }
}

impl ExprContext for Msg {
    fn payload(&self) -> Result<PayloadView<'_>, PayloadError> {
        Ok(match (&self.json, &self.xml) {
            (Some(j), _) => PayloadView::Json(j),
            (_, Some(x)) => PayloadView::Xml(x),
            _ => PayloadView::None,
        })
    }
    fn payload_json(&self) -> Result<Option<&Value>, PayloadError> {
        if self.json.is_none() && self.xml.is_some() {
            return Err(PayloadError::new(
                "no XML to JSON conversion in the fixture",
            ));
        }
        Ok(self.json.as_ref())
    }
    fn payload_xml(&self) -> Result<Option<&Element>, PayloadError> {
        Ok(self.xml.as_ref())
    }
    fn variable(&self, name: &str) -> Option<&Value> {
        self.vars.get(name)
    }
    fn property(&self, scope: PropertyScope, name: &str) -> Option<Value> {
        self.props.get(&(scope, name.to_owned())).cloned()
    }
    fn header(&self, name: &str) -> Option<&str> {
        let found = self
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name));
        found.map(|(_, v)| v.as_str())
    }
    fn uri_param(&self, name: &str) -> Option<&str> {
        self.uri.get(name).map(String::as_str)
    }
    fn query_param(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }
    fn function_param(&self, name: &str) -> Option<&Value> {
        self.func.get(name)
    }
    fn config(&self, name: &str) -> Option<&str> {
        self.config.get(name).map(String::as_str)
    }
}

fn store() -> Msg {
    let mut m = Msg::json(json!({
        "store": {"book": [
            {"category": "reference", "title": "Sayings", "price": 8.95},
            {"category": "fiction", "title": "Moby Dick", "price": 8.99, "isbn": "0-553"},
            {"category": "fiction", "title": "Lord of the Rings", "price": 22.99, "isbn": "0-395"}
        ]},
        "expensive": 10,
        "user": {"first name": "Ann", "tags": ["a", "b"], "empty": []}
    }))
    .var("min", json!(9))
    .var("cat", json!("fiction"))
    .var("order", json!({"id": 7, "items": [1, 2, 3]}))
    .var("text", json!("{\"k\": [10, 20]}"))
    .prop(PropertyScope::Default, "p", json!("pv"))
    .prop(PropertyScope::Axis2, "HTTP_SC", json!(200))
    .header("Content-Type", "application/json");
    m.uri.insert("id".into(), "42".into());
    m.query.insert("q".into(), "shoes".into());
    m.func.insert("f".into(), json!({"x": 1}));
    m.config.insert("http.port".into(), "8290".into());
    m
}

fn eval(src: &str) -> Result<Value, EvalError> {
    evaluate(&Expression::parse(src).unwrap(), &store())
}

fn ok(src: &str) -> Value {
    eval(src).unwrap_or_else(|e| panic!("{src}: {e}"))
}

#[test]
fn each_root_reads_its_source() {
    let cases = [
        ("${payload.expensive}", json!(10)),
        ("${$.expensive}", json!(10)),
        ("${var.min}", json!(9)),
        ("${var.order.items[1]}", json!(2)),
        ("${var.text.k[0]}", json!(10)),
        ("${headers['content-type']}", json!("application/json")),
        ("${headers.Missing}", Value::Null),
        ("${props.synapse.p}", json!("pv")),
        ("${properties.axis2.HTTP_SC}", json!(200)),
        ("${params.uriParams.id}", json!("42")),
        ("${params.pathParams.id}", json!("42")),
        ("${params.queryParams.q}", json!("shoes")),
        ("${params.functionParams.f.x}", json!(1)),
        ("${config.http.port}", json!("8290")),
    ];
    for (src, want) in cases {
        assert_eq!(ok(src), want, "{src}");
    }
}

#[test]
fn missing_paths_and_variables_are_errors() {
    assert!(matches!(eval("${var.nope}"), Err(EvalError::NotFound(_))));
    assert!(matches!(
        eval("${payload.nope.deeper}"),
        Err(EvalError::NotFound(_))
    ));
    assert!(matches!(
        eval("${payload.store.book[9]}"),
        Err(EvalError::NotFound(_))
    ));
    assert!(matches!(
        eval("${headers.Missing.x}"),
        Err(EvalError::NotFound(_))
    ));
}

#[test]
fn json_paths_select_like_jayway() {
    let cases = [
        (
            "${payload.store.book[-1].title}",
            json!("Lord of the Rings"),
        ),
        ("${payload.store.book[*].price}", json!([8.95, 8.99, 22.99])),
        (
            "${payload.store.book[0:2].title}",
            json!(["Sayings", "Moby Dick"]),
        ),
        (
            "${payload.store.book[::2].title}",
            json!(["Sayings", "Lord of the Rings"]),
        ),
        ("${payload.store.book[0,2].price}", json!([8.95, 22.99])),
        ("${payload..isbn}", json!(["0-553", "0-395"])),
        ("${payload.user['first name']}", json!("Ann")),
        (
            "${payload.store.book[?(@.price > var.min)].title}",
            json!(["Lord of the Rings"]),
        ),
        (
            "${payload.store.book[?(@.category == var.cat && @.price < payload.expensive)].title}",
            json!(["Moby Dick"]),
        ),
        (
            "${payload.store.book[?(@.isbn)].title}",
            json!(["Moby Dick", "Lord of the Rings"]),
        ),
        (
            "${payload.store.book[?(@.title =~ /moby.*/i)].price}",
            json!([8.99]),
        ),
        (
            "${payload.store.book[?(@.category in ['reference'])].price}",
            json!([8.95]),
        ),
        (
            "${payload.store.book[?(@.category nin ['reference'])].price}",
            json!([8.99, 22.99]),
        ),
        ("${payload.user[?(@.tags size 2)].tags[0]}", json!(["a"])),
        (
            "${payload.user[?(@.empty empty true)]['first name']}",
            json!(["Ann"]),
        ),
        ("${payload.store.book.length()}", json!(3)),
        ("${payload.store.book[*].price.sum()}", json!(40.93)),
        ("${var.order.items.max()}", json!(3.0)),
        ("${var.order.keys()}", json!(["id", "items"])),
        (
            "${payload.store.book[var.order.items[0]].title}",
            json!("Moby Dick"),
        ),
        ("${payload.store.book[?(@.price > 100)]}", json!([])),
    ];
    for (src, want) in cases {
        assert_eq!(ok(src), want, "{src}");
    }
}

#[test]
fn operators_follow_mi() {
    let cases = [
        ("${1 + 2}", json!(3)),
        ("${0.1 + 0.2}", json!(0.3)),
        ("${'a' + 'b'}", json!("ab")),
        ("${7 - 10}", json!(-3)),
        ("${3 * 4}", json!(12)),
        ("${6 / 3}", json!(2)),
        ("${7 / 2}", json!(3.5)),
        ("${7 % 3}", json!(1)),
        ("${-var.min}", json!(-9)),
        ("${1 == 1.0}", json!(true)),
        ("${'1' == 1}", json!(true)),
        ("${var.min != 9}", json!(false)),
        ("${var.min < 10}", json!(true)),
        ("${var.min <= 9}", json!(true)),
        ("${var.min > 9}", json!(false)),
        ("${var.min >= 9.5}", json!(false)),
        ("${true && false}", json!(false)),
        ("${true and true}", json!(true)),
        ("${false || true}", json!(true)),
        ("${false or false}", json!(false)),
        ("${!true}", json!(false)),
        ("${var.min > 5 ? 'big' : 'small'}", json!("big")),
        ("${(1 + 2) * 3}", json!(9)),
        ("${null == null}", json!(true)),
        ("${headers.Missing == null}", json!(true)),
        ("${var.min == null}", json!(false)),
        ("${[1, 'a']}", json!([1, "a"])),
        ("${false && var.nope > 1}", json!(false)),
    ];
    for (src, want) in cases {
        assert_eq!(ok(src), want, "{src}");
    }
}

#[test]
fn operator_type_errors_are_reported() {
    for src in [
        "${'a' + 1}",
        "${'a' < 'b'}",
        "${1 && true}",
        "${1 / 0}",
        "${5 % 0}",
        "${-'x'}",
        "${1 ? 2 : 3}",
        "${!1}",
    ] {
        assert!(eval(src).is_err(), "{src} should fail");
    }
}

#[test]
fn every_function_behaves_as_in_mi() {
    let cases = [
        ("${length('héllo')}", json!(5)),
        ("${length(var.order.items)}", json!(3)),
        // Read in place from the payload (no copy of the array); same results and errors.
        ("${length(payload.store.book)}", json!(3)),
        ("${length(payload.store.book[1].title)}", json!(9)),
        ("${length(payload.user.tags)}", json!(2)),
        ("${length(payload.user.empty)}", json!(0)),
        ("${toUpper('abc')}", json!("ABC")),
        ("${toLower('AbC')}", json!("abc")),
        ("${subString('hello', 1)}", json!("ello")),
        ("${subString('hello', 1, 3)}", json!("el")),
        ("${startsWith('hello', 'he')}", json!(true)),
        ("${endsWith('hello', 'lo')}", json!(true)),
        ("${contains('hello', 'ell')}", json!(true)),
        ("${trim('  x ')}", json!("x")),
        ("${replace('a-b-c', '-', '+')}", json!("a+b+c")),
        ("${split('a,b,,c,,', ',')}", json!(["a", "b", "", "c"])),
        ("${split('a1b22c', '[0-9]+')}", json!(["a", "b", "c"])),
        ("${charAt('hello', 1)}", json!("e")),
        ("${indexOf('hello', 'l')}", json!(2)),
        ("${indexOf('hello', 'l', 3)}", json!(3)),
        ("${indexOf('hello', 'z')}", json!(-1)),
        ("${abs(-5)}", json!(5)),
        ("${abs(-2.5)}", json!(2.5)),
        ("${floor(3.7)}", json!(3)),
        ("${ceil(3.2)}", json!(4)),
        ("${floor(4)}", json!(4)),
        ("${sqrt(16)}", json!(4.0)),
        ("${log(1)}", json!(0.0)),
        ("${pow(2, 3)}", json!(8.0)),
        ("${round(2.5)}", json!(3)),
        ("${round(1.005, 2)}", json!(1.01)),
        ("${round(7, 2)}", json!(7)),
        ("${base64encode('text')}", json!("dGV4dA==")),
        ("${base64encode('é', 'ISO-8859-1')}", json!("6Q==")),
        ("${base64decode('dGV4dA==')}", json!("text")),
        ("${urlEncode('a b*c/é')}", json!("a%20b%2Ac%2F%C3%A9")),
        ("${urlDecode('a%20b+c')}", json!("a b c")),
        ("${isNumber(1.5)}", json!(true)),
        ("${isNumber('1')}", json!(false)),
        ("${isString('1')}", json!(true)),
        ("${isArray(var.order.items)}", json!(true)),
        ("${isArray('[1]')}", json!(true)),
        ("${isObject(var.order)}", json!(true)),
        ("${isObject('x')}", json!(false)),
        ("${integer('42')}", json!(42)),
        ("${float(3)}", json!(3.0)),
        ("${float('2.5')}", json!(2.5)),
        ("${string(12)}", json!("12")),
        ("${string(var.order.items)}", json!("[1,2,3]")),
        ("${boolean('TRUE')}", json!(true)),
        ("${boolean('yes')}", json!(false)),
        ("${object(var.text).k[1]}", json!(20)),
        ("${array('[1, 2]')[1]}", json!(2)),
        (
            "${formatDateTime('29-09-1988', 'dd-MM-yyyy', 'yyyy MMM dd')}",
            json!("1988 Sep 29"),
        ),
        ("${exists(var.min)}", json!(true)),
        ("${exists(var.nope)}", json!(false)),
        ("${exists(headers.Missing)}", json!(false)),
        ("${not(false)}", json!(true)),
    ];
    for (src, want) in cases {
        assert_eq!(ok(src), want, "{src}");
    }
}

#[test]
fn function_argument_errors_are_reported() {
    for src in [
        "${subString('abc', 5)}",
        "${subString('abc', 2, 1)}",
        "${charAt('abc', 3)}",
        "${integer('4.5')}",
        "${float('x')}",
        "${object('[1]')}",
        "${array('{}')}",
        "${base64decode('***')}",
        "${urlDecode('%zz')}",
        "${toUpper(var.order)}",
        "${length(5)}",
        "${length(payload.expensive)}",
        "${length(payload.user)}",
        "${length(payload.nothing)}",
        "${not('x')}",
        "${trim(headers.Missing)}",
        "${base64encode('x', 'EBCDIC')}",
        "${formatDateTime('x', 'yyyy', 'yyyy')}",
    ] {
        assert!(eval(src).is_err(), "{src} should fail");
    }
}

#[test]
fn now_and_format_date_time_agree_on_epoch_millis() {
    let now = ok("${now()}").as_i64().unwrap();
    assert!(now > 1_700_000_000_000);
    let year = ok("${formatDateTime(now(), 'yyyy')}");
    let year: i32 = year.as_str().unwrap().parse().unwrap();
    assert!(year >= 2024);
}

#[test]
fn strings_render_raw_and_other_values_as_json() {
    let m = store();
    let s = |src: &str| evaluate_string(&Expression::parse(src).unwrap(), &m).unwrap();
    assert_eq!(s("${'x'}"), "x");
    assert_eq!(s("${1 + 2}"), "3");
    assert_eq!(s("${7 / 2}"), "3.5");
    assert_eq!(s("${var.order}"), r#"{"id":7,"items":[1,2,3]}"#);
    assert_eq!(s("${headers.Missing}"), "");
}

#[test]
fn conditions_hold_only_for_true() {
    let m = store();
    let b = |src: &str| evaluate_bool(&Expression::parse(src).unwrap(), &m).unwrap();
    assert!(b("${var.min > 1}"));
    assert!(b("${'TRUE'}"));
    assert!(!b("${'yes'}"));
    assert!(!b("${1}"));
}

#[test]
fn or_empty_gives_synapse_s_empty_result() {
    let m = store();
    let e = Expression::parse("${var.nope}").unwrap();
    assert_eq!(or_empty(evaluate(&e, &m)), Value::Null);
    assert_eq!(or_empty(evaluate_string(&e, &m)), "");
    assert!(!or_empty(evaluate_bool(&e, &m)));
}

#[test]
fn json_eval_reads_payload_and_properties() {
    let m = store().prop(
        PropertyScope::Default,
        "order",
        json!("{\"a\": {\"b\": [5, 6]}}"),
    );
    let e = |src: &str| evaluate(&Expression::parse(src).unwrap(), &m).unwrap();
    assert_eq!(e("json-eval($.store.book[0].title)"), json!("Sayings"));
    assert_eq!(
        e("json-eval($.store.book[?(@.price < 9)].price)"),
        json!([8.95, 8.99])
    );
    assert_eq!(e("json-eval($ctx:order.a.b[1])"), json!(6));
    assert_eq!(e("json-eval($)")["expensive"], json!(10));
}

#[test]
fn templates_render_inline_expressions_and_arguments() {
    let m = store();
    let t = Template::parse("Hi ${payload.user['first name']}, ${length(var.order.items)} items")
        .unwrap();
    assert_eq!(render(&t, &m).unwrap(), "Hi Ann, 3 items");
    let f =
        Template::parse_payload_format(r#"{"id": $1, "q": "$2", "n": ${var.min}}"#, &[]).unwrap();
    let args = vec!["7".to_string(), "shoes".to_string()];
    assert_eq!(
        render_with_args(&f, &args, &m).unwrap(),
        r#"{"id": 7, "q": "shoes", "n": 9}"#
    );
    assert!(render_with_args(&f, &args[..1], &m).is_err());
    assert!(render(&Template::parse("${var.nope}").unwrap(), &m).is_err());
}

const ORDER: &str = r#"<m:order xmlns:m="urn:m" id="o1"><m:item qty="2">pen</m:item><m:item qty="3">ink</m:item><total>12.5</total></m:order>"#;

fn xml_msg() -> Msg {
    let mut m = Msg::xml(ORDER)
        .prop(PropertyScope::Default, "who", json!("bob"))
        .prop(PropertyScope::Axis2, "HTTP_SC", json!(201))
        .header("X-Trace", "t-1")
        .var("list", json!("<list><v>1</v><v>2</v></list>"));
    m.query.insert("q".into(), "find".into());
    m.func.insert("p".into(), json!("fp"));
    m
}

fn xpath_ns(src: &str) -> Expression {
    let ns = vec![("m".to_string(), "urn:m".to_string())];
    Expression::parse_with_namespaces(src, &ns).unwrap()
}

#[test]
fn xpath_returns_the_first_node_s_string_value_numbers_and_booleans() {
    let m = xml_msg();
    let s = |src: &str| evaluate_string(&xpath_ns(src), &m).unwrap();
    assert_eq!(s("//m:item"), "pen");
    assert_eq!(s("//m:order/@id"), "o1");
    assert_eq!(s("count(//m:item)"), "2");
    assert_eq!(s("sum(//m:item/@qty) div 2"), "2.5");
    assert_eq!(s("$body/m:order/total"), "12.5");
    assert_eq!(s("/soapenv:Envelope/soapenv:Body/m:order/m:item[2]"), "ink");
    assert_eq!(
        evaluate(&xpath_ns("count(//m:item)"), &m).unwrap(),
        json!(2)
    );
    assert_eq!(
        evaluate(&xpath_ns("//m:item = 'ink'"), &m).unwrap(),
        json!(true)
    );
    assert!(evaluate_bool(&xpath_ns("//m:item[@qty > 2]"), &m).unwrap());
    assert!(!evaluate_bool(&xpath_ns("//m:missing"), &m).unwrap());
}

#[test]
fn xpath_binds_synapse_variables_and_functions() {
    let m = xml_msg();
    let s = |src: &str| evaluate_string(&xpath_ns(src), &m).unwrap();
    assert_eq!(s("$ctx:who"), "bob");
    assert_eq!(s("$axis2:HTTP_SC"), "201");
    assert_eq!(s("$trp:x-trace"), "t-1");
    assert_eq!(s("$url:q"), "find");
    assert_eq!(s("$func:p"), "fp");
    assert_eq!(s("$ctx:unset"), "");
    assert_eq!(s("get-property('who')"), "bob");
    assert_eq!(s("get-property('axis2', 'HTTP_SC')"), "201");
    assert_eq!(s("get-property('transport', 'X-Trace')"), "t-1");
    assert_eq!(s("get-property('func', 'p')"), "fp");
    assert_eq!(
        s("concat(get-property('who'), '-', //m:item[1])"),
        "bob-pen"
    );
    assert_eq!(s("base64Encode('text')"), "dGV4dA==");
    assert_eq!(s("base64Decode('dGV4dA==')"), "text");
    assert_eq!(s("url-encode('a b')"), "a%20b");
}

#[test]
fn xpath_keeps_selected_nodes_for_xml_callers() {
    let m = xml_msg();
    let XPathValue::Nodes { nodes, text } = evaluate_xml(&xpath_ns("//m:item"), &m).unwrap() else {
        panic!("expected nodes")
    };
    assert_eq!(text, "pen");
    assert_eq!(nodes.len(), 2);
    let crate::xml::Node::Element(second) = &nodes[1] else {
        panic!()
    };
    assert_eq!(second.name.local, "item");
    assert_eq!(second.name.namespace.as_deref(), Some("urn:m"));
    assert_eq!(second.attribute("qty"), Some("3"));
    assert_eq!(second.text(), "ink");
}

#[test]
fn synapse_xpath_function_reads_the_payload_or_a_variable() {
    let m = xml_msg();
    let ns = vec![("m".to_string(), "urn:m".to_string())];
    let e = |src: &str| {
        let expr = Expression::parse_with_namespaces(src, &ns).unwrap();
        evaluate(&expr, &m).unwrap()
    };
    assert_eq!(e("${xpath('//m:item[2]')}"), json!("ink"));
    assert_eq!(e("${xpath('//m:item[2]') + '!'}"), json!("ink!"));
    assert_eq!(e("${xpath('/v[2]', 'list')}"), json!("2"));
    assert!(evaluate(&Expression::parse("${xpath('//a', 'nope')}").unwrap(), &m).is_err());
}

#[test]
fn a_payload_that_cannot_be_read_is_a_payload_error() {
    let m = xml_msg();
    let r = evaluate(&Expression::parse("${payload.a}").unwrap(), &m);
    assert!(matches!(r, Err(EvalError::Payload(_))));
}

/// A path starting with a member of a raw JSON body is read by a scan of the bytes instead of
/// a full parse; it must give exactly what the parsed document gives.
#[test]
fn member_paths_on_raw_json_match_the_parsed_document() {
    use crate::message::Message;
    let body =
        r#"{"kind": "a", "n": 3, "items": [{"id": 1}, {"id": 2}], "o": {"p": {"q": "deep"}}}"#;
    let raw = || {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            "application/json".parse().unwrap(),
        );
        Message::from_request(
            http::Method::POST,
            "/".parse().unwrap(),
            headers,
            body.into(),
        )
    };
    let mut parsed = raw();
    parsed.set_json(serde_json::from_str(body).unwrap());
    for src in [
        "${payload.kind}",
        "${payload.n + 1}",
        "${payload.items[1].id}",
        "${payload.items.length()}",
        "${payload.items[*].id}",
        "${payload.o.p.q}",
        "${payload.missing}",
        "${payload.kind.nothing}",
        "${payload.kind == 'a' ? 'yes' : 'no'}",
    ] {
        let e = Expression::parse(src).unwrap();
        let fast = evaluate(&e, &raw());
        let full = evaluate(&e, &parsed);
        assert_eq!(format!("{fast:?}"), format!("{full:?}"), "{src}");
    }
    // A raw body that is not an object, or not JSON at all, takes the full parse.
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        "application/json".parse().unwrap(),
    );
    let broken = Message::from_request(
        http::Method::POST,
        "/".parse().unwrap(),
        headers,
        "{\"kind\": ".into(),
    );
    let err = evaluate(&Expression::parse("${payload.kind}").unwrap(), &broken).unwrap_err();
    assert!(err.to_string().contains("malformed JSON"), "{err}");
}
