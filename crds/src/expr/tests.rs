//! Tests of the expression and template syntax.

use serde_json::json;

use super::ast::{BinaryOp, ParamKind, PathFunction, PropertyScope, UnaryOp};
use super::*;

fn synapse(src: &str) -> Node {
    match Expression::parse(src) {
        Ok(Expression::Synapse(e)) => e.root,
        other => panic!("{src}: expected a Synapse expression, got {other:?}"),
    }
}

fn error(src: &str) -> ExprError {
    match Expression::parse(src) {
        Err(e) => e,
        Ok(e) => panic!("{src}: expected an error, parsed {e:?}"),
    }
}

fn path(root: Root, segments: Vec<Segment>) -> Node {
    Node::Path { root, segments }
}

fn child(name: &str) -> Segment {
    Segment::Child(name.into())
}

#[test]
fn literals_keep_integers_integral_and_unescape_strings() {
    assert_eq!(synapse("${42}"), Node::Literal(json!(42)));
    assert_eq!(synapse("${4.5}"), Node::Literal(json!(4.5)));
    assert_eq!(synapse("${-3}"), Node::Literal(json!(-3)));
    assert_eq!(synapse("${'it\\'s'}"), Node::Literal(json!("it's")));
    assert_eq!(
        synapse(r#"${"a\n\u0041\101"}"#),
        Node::Literal(json!("a\nAA"))
    );
    assert_eq!(synapse("${true}"), Node::Literal(json!(true)));
    assert_eq!(synapse("${null}"), Node::Literal(json!(null)));
}

#[test]
fn every_root_parses_to_its_kind() {
    assert_eq!(
        synapse("${payload.a}"),
        path(Root::Payload, vec![child("a")])
    );
    assert_eq!(synapse("${$.a}"), path(Root::Payload, vec![child("a")]));
    assert_eq!(
        synapse("${var.total}"),
        path(Root::Variable("total".into()), vec![])
    );
    assert_eq!(
        synapse(r#"${var["last name"]}"#),
        path(Root::Variable("last name".into()), vec![])
    );
    assert_eq!(
        synapse(r#"${headers["Content-Type"]}"#),
        path(Root::Header("Content-Type".into()), vec![])
    );
    assert_eq!(
        synapse("${headers.Host}"),
        path(Root::Header("Host".into()), vec![])
    );
    assert_eq!(
        synapse("${props.synapse.x}"),
        path(
            Root::Property {
                scope: PropertyScope::Synapse,
                name: "x".into()
            },
            vec![]
        )
    );
    assert_eq!(
        synapse("${properties.axis2.HTTP_SC}"),
        path(
            Root::Property {
                scope: PropertyScope::Axis2,
                name: "HTTP_SC".into()
            },
            vec![]
        )
    );
    for (src, kind) in [
        ("${params.queryParams.q}", ParamKind::Query),
        ("${params.uriParams.q}", ParamKind::Uri),
        ("${params.pathParams.q}", ParamKind::Uri),
        ("${params.functionParams.q}", ParamKind::Function),
    ] {
        assert_eq!(
            synapse(src),
            path(
                Root::Param {
                    kind,
                    name: "q".into()
                },
                vec![]
            )
        );
    }
    assert_eq!(
        synapse("${config.http.port}"),
        path(Root::Config("http.port".into()), vec![])
    );
    assert_eq!(
        synapse(r#"${config["a.b"]}"#),
        path(Root::Config("a.b".into()), vec![])
    );
}

#[test]
fn vars_is_not_a_root() {
    assert!(error("${vars.x}").message.contains("var.name"));
}

#[test]
fn json_path_segments_cover_indices_slices_wildcards_descent_and_filters() {
    let node = synapse("${payload.orders[0].items[-1][*]..id[1:3][::2]['a b'][0,2]}");
    let Node::Path { segments, .. } = node else {
        panic!()
    };
    assert_eq!(segments[0], child("orders"));
    assert_eq!(segments[1], Segment::Index(0));
    assert_eq!(segments[2], child("items"));
    assert_eq!(segments[3], Segment::Index(-1));
    assert_eq!(segments[4], Segment::Wildcard);
    assert_eq!(segments[5], Segment::Descendants);
    assert_eq!(segments[6], child("id"));
    assert!(matches!(
        &segments[7],
        Segment::Slice {
            start: Some(_),
            end: Some(_),
            step: None
        }
    ));
    assert!(matches!(
        &segments[8],
        Segment::Slice {
            start: None,
            end: None,
            step: Some(_)
        }
    ));
    assert_eq!(segments[9], child("a b"));
    assert!(matches!(&segments[10], Segment::Union(items) if items.len() == 2));

    let filter = synapse("${payload.items[?(@.price > var.min && @.name == 'x')]}");
    let Node::Path { segments, .. } = filter else {
        panic!()
    };
    let Segment::Filter(cond) = &segments[1] else {
        panic!("{segments:?}")
    };
    assert!(matches!(
        **cond,
        Node::Binary {
            op: BinaryOp::And,
            ..
        }
    ));

    let f = synapse("${payload.items.length()}");
    let Node::Path { segments, .. } = f else {
        panic!()
    };
    assert_eq!(segments[1], Segment::Function(PathFunction::Length));
}

#[test]
fn jayway_filter_operators_are_accepted_only_inside_filters() {
    synapse("${payload.a[?(@.name =~ /ab.*/i)]}");
    synapse("${payload.a[?(@.size in ['S', 'M'])]}");
    synapse("${payload.a[?(@.tags empty false)]}");
    assert!(error("${var.a =~ /x/}").message.contains("inside filters"));
    assert!(error("${@.a}").message.contains("inside filters"));
    assert!(
        error("${payload.a[?(@.n =~ /(/)]}")
            .message
            .contains("regular expression")
    );
}

#[test]
fn operators_follow_conventional_precedence() {
    let Node::Binary { op, left, right } = synapse("${1 + 2 * 3}") else {
        panic!()
    };
    assert_eq!(op, BinaryOp::Add);
    assert_eq!(*left, Node::Literal(json!(1)));
    assert!(matches!(
        *right,
        Node::Binary {
            op: BinaryOp::Mul,
            ..
        }
    ));

    let Node::Binary { op, .. } = synapse("${var.a > 1 and var.b < 2 || false}") else {
        panic!()
    };
    assert_eq!(op, BinaryOp::Or);

    let Node::Conditional { condition, .. } = synapse("${var.a == 1 ? 'x' : 'y'}") else {
        panic!()
    };
    assert!(matches!(
        *condition,
        Node::Binary {
            op: BinaryOp::Eq,
            ..
        }
    ));

    assert!(matches!(
        synapse("${!var.a}"),
        Node::Unary {
            op: UnaryOp::Not,
            ..
        }
    ));
    assert!(matches!(
        synapse("${-var.a}"),
        Node::Unary {
            op: UnaryOp::Neg,
            ..
        }
    ));
    assert!(matches!(synapse("${(var.a).b}"), Node::Group { .. }));
}

#[test]
fn functions_are_checked_by_name_and_arity_at_parse_time() {
    for f in Function::ALL {
        assert_eq!(Function::from_name(f.name()), Some(f));
    }
    assert!(matches!(
        synapse("${subString('abc', 1)}"),
        Node::Call { .. }
    ));
    assert!(matches!(synapse("${now()}"), Node::Call { .. }));
    let e = error("${subString('abc')}");
    assert_eq!(
        e.message,
        "function 'subString' takes 2 to 3 arguments, found 1"
    );
    assert_eq!(e.offset, 2);
    assert!(
        error("${foo(1)}")
            .message
            .contains("unknown function 'foo'")
    );
    assert!(
        error("${toupper('a')}")
            .message
            .contains("unknown function")
    );
}

#[test]
fn registry_and_secret_are_reported_as_unsupported() {
    assert!(
        error("${registry('gov:/a')}")
            .message
            .contains("not supported by Ferry yet")
    );
    assert!(
        error("${secret('alias')}")
            .message
            .contains("not supported by Ferry yet")
    );
}

#[test]
fn xpath_literal_arguments_are_validated() {
    synapse("${xpath('//a/b')}");
    assert!(error("${xpath('//a[')}").message.contains("xpath()"));
}

#[test]
fn errors_carry_the_offset_of_the_problem() {
    let e = error("${payload.a + }");
    assert_eq!(e.offset, 14);
    assert_eq!(e.to_string(), "unexpected end of expression at column 15");
    assert_eq!(error("${var.a").message, "'${' is never closed by '}'");
    assert_eq!(error("${ 'abc }").message, "unterminated string");
    assert!(error("${1} tail").message.contains("template"));
    assert_eq!(error("${}").message, "empty expression");
}

#[test]
fn braces_and_quotes_inside_an_expression_do_not_end_it() {
    let node = synapse("${'}' + \"{\"}");
    assert!(matches!(
        node,
        Node::Binary {
            op: BinaryOp::Add,
            ..
        }
    ));
}

#[test]
fn json_eval_reads_the_payload_or_a_property() {
    let Expression::JsonEval(e) =
        Expression::parse("json-eval($.store.book[0].first-name)").unwrap()
    else {
        panic!()
    };
    assert_eq!(e.target, JsonEvalTarget::Payload);
    assert_eq!(
        e.segments,
        vec![
            child("store"),
            child("book"),
            Segment::Index(0),
            child("first-name")
        ]
    );

    let Expression::JsonEval(e) = Expression::parse("json-eval($ctx:order.items[*].id)").unwrap()
    else {
        panic!()
    };
    assert_eq!(e.target, JsonEvalTarget::Property("order".into()));
    assert_eq!(
        e.segments,
        vec![child("items"), Segment::Wildcard, child("id")]
    );
    assert!(
        !Expression::parse("json-eval($ctx:order)")
            .unwrap()
            .uses_payload()
    );
    assert!(Expression::parse("json-eval(store)").is_err());
}

#[test]
fn anything_else_is_xpath_with_synapse_variables() {
    let ns = vec![("m".to_string(), "urn:m".to_string())];
    let Expression::XPath(x) =
        Expression::parse_with_namespaces("//m:order[@id=$ctx:id]/$trp:X", &ns).unwrap_or_else(
            |_| Expression::parse_with_namespaces("concat($ctx:id, $body, $url:q)", &ns).unwrap(),
        )
    else {
        panic!()
    };
    assert_eq!(x.namespaces, ns);
    let Expression::XPath(x) =
        Expression::parse("concat(get-property('a'), $ctx:id, $body, $url:q)").unwrap()
    else {
        panic!()
    };
    assert_eq!(
        x.variables,
        vec![
            XPathVariable::Scoped {
                prefix: "ctx".into(),
                name: "id".into()
            },
            XPathVariable::Body,
            XPathVariable::Scoped {
                prefix: "url".into(),
                name: "q".into()
            },
        ]
    );
    assert!(error("//a[").message.starts_with("invalid XPath"));
    assert!(
        error("$foo:bar")
            .message
            .contains("unknown variable prefix")
    );
    assert!(error("$nope").message.contains("unknown variable"));
    assert!(
        error("wso2:vault-lookup('a')")
            .message
            .contains("not supported")
    );
}

#[test]
fn uses_payload_tells_which_expressions_need_the_body() {
    for (src, uses) in [
        ("${payload.a}", true),
        ("${$}", true),
        ("${var.a + 1}", false),
        ("${headers.x}", false),
        ("${var.list[?(@.a == payload.b)]}", true),
        ("${xpath('//a')}", true),
        ("${xpath('//a', 'v')}", false),
        ("${length(payload.items)}", true),
        ("get-property('x')", false),
        ("$ctx:x", false),
        ("concat($trp:a, 'b/c')", false),
        ("//order/id", true),
        ("count(item)", true),
        ("$body/a", true),
        ("json-eval($.a)", true),
    ] {
        assert_eq!(
            Expression::parse(src).unwrap().uses_payload(),
            uses,
            "{src}"
        );
    }
    assert!(Expression::parse("${1}").unwrap().is_synapse());
    assert!(!Expression::parse("//a").unwrap().is_synapse());
}

#[test]
fn templates_split_text_and_inline_expressions() {
    let t = Template::parse("Hello ${var.name}, total {${var.a + 1}} \\${not} $1").unwrap();
    assert_eq!(t.parts.len(), 5);
    assert_eq!(t.parts[0], Part::Literal("Hello ".into()));
    assert!(matches!(&t.parts[1], Part::Expr(e) if e.source() == "${var.name}"));
    assert_eq!(t.parts[2], Part::Literal(", total {".into()));
    assert!(matches!(&t.parts[3], Part::Expr(_)));
    assert_eq!(t.parts[4], Part::Literal("} ${not} $1".into()));
    assert!(!t.is_literal());
    assert!(Template::parse("plain").unwrap().is_literal());
    assert!(Template::parse("a ${payload.x}").unwrap().uses_payload());
}

#[test]
fn template_errors_point_into_the_whole_text() {
    let e = Template::parse("abc ${foo()}").unwrap_err();
    assert_eq!(e.offset, 6);
    assert!(Template::parse("abc ${var.a").is_err());
}

#[test]
fn payload_formats_report_the_placeholders_they_use() {
    let t =
        Template::parse_payload_format(r#"{"a": $1, "b": "$3", "c": ${var.c}, "d": "\$2"}"#, &[])
            .unwrap();
    assert_eq!(t.arg_indices().into_iter().collect::<Vec<_>>(), vec![1, 3]);
    assert!(t.parts.contains(&Part::Arg(1)));
    assert!(matches!(t.parts.last(), Some(Part::Literal(s)) if s.ends_with("\"$2\"}")));
    assert!(Template::parse_payload_format("$0", &[]).is_err());
    assert!(
        Template::parse_payload_format("costs $ 5", &[])
            .unwrap()
            .is_literal()
    );
}

#[test]
fn dynamic_values_are_braced_expressions() {
    assert_eq!(
        DynamicValue::parse("fixed").unwrap(),
        DynamicValue::Literal("fixed".into())
    );
    assert!(
        matches!(DynamicValue::parse("{${var.m}}").unwrap(), DynamicValue::Expr(e) if e.is_synapse())
    );
    assert!(matches!(
        DynamicValue::parse("{//name}").unwrap(),
        DynamicValue::Expr(Expression::XPath(_))
    ));
    assert_eq!(DynamicValue::parse("{${nope()}}").unwrap_err().offset, 3);
}

#[test]
fn xpath_namespace_prefixes_must_be_declared() {
    let ns = vec![("m".to_string(), "urn:m".to_string())];
    Expression::parse_with_namespaces("//m:a/@m:b | child::m:c", &ns).unwrap();
    Expression::parse("/soapenv:Envelope/soapenv:Body/*[1]").unwrap();
    Expression::parse("concat($ctx:a, 'x:y')").unwrap();
    let e = Expression::parse_with_namespaces("//m:a/n:b", &ns).unwrap_err();
    assert_eq!(e.message, "namespace prefix 'n' is not declared");
    assert_eq!(e.offset, 6);
    assert!(Expression::parse("${xpath('//q:a')}").is_err());
}

#[test]
fn an_undeclared_prefix_right_after_a_number_and_an_operator_is_refused() {
    // Found by the `expression` fuzz target: the name after `2-` was taken for the rest
    // of a name and not checked, and sxd-xpath panicked on the prefix at evaluation.
    let e = Expression::parse("2-so2-va.:lby").unwrap_err();
    assert_eq!(e.message, "namespace prefix 'so2-va.' is not declared");
    assert_eq!(e.offset, 2);
    Expression::parse("2-count(//a) + 1.5*$ctx:n").unwrap();
    // A prefix starting with U+0484, an XML name character `char::is_alphabetic` denies.
    assert!(Expression::parse("\u{484}:\u{370}*1").is_err());
}

#[test]
fn deep_or_long_expressions_are_refused_not_a_stack_overflow() {
    // On a 2 MiB stack, as a tokio worker (the operator's admission) has.
    let outcome = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(|| {
            let deep = format!("${{{}1{}}}", "(".repeat(5000), ")".repeat(5000));
            let bangs = format!("${{{}true}}", "!".repeat(5000));
            let chain = format!("${{1{}}}", " + 1".repeat(5000));
            let xpath_deep = format!("{}1{}", "(".repeat(5000), ")".repeat(5000));
            let xpath_chain = format!("1{}", "+1".repeat(5000));
            let minus = format!("{}1", "-".repeat(5000));
            [deep, bangs, chain, xpath_deep, xpath_chain, minus]
                .iter()
                .map(|src| Expression::parse(src).map_err(|e| e.to_string()))
                .collect::<Vec<_>>()
        })
        .unwrap()
        .join()
        .unwrap();
    for result in &outcome {
        let e = result.as_ref().unwrap_err();
        assert!(
            e.contains("nests more than") || e.contains("more than 256 operators"),
            "{e}"
        );
    }
    // Ordinary nesting is far from the limits.
    Expression::parse("${((payload.a + 1) * (2 - payload.b)) > 3 && !(payload.c == 'x')}").unwrap();
    Expression::parse("count(//order[item[price > 3]]) - 1").unwrap();
}
