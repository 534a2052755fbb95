use super::*;

// === fixtures ===

fn api(name: &str, context: &str) -> ApiRoute {
    ApiRoute {
        name: name.to_owned(),
        context: context.to_owned(),
        version: None,
        version_type: VersionType::Context,
        resources: Vec::new(),
    }
}

impl ApiRoute {
    fn versioned(mut self, version: &str, version_type: VersionType) -> Self {
        self.version = Some(version.to_owned());
        self.version_type = version_type;
        self
    }

    fn template(self, methods: &str, template: &str) -> Self {
        self.with(methods, ResourcePattern::UriTemplate(template.to_owned()))
    }

    fn mapping(self, methods: &str, mapping: &str) -> Self {
        self.with(methods, ResourcePattern::UrlMapping(mapping.to_owned()))
    }

    fn any(self, methods: &str) -> Self {
        self.with(methods, ResourcePattern::Any)
    }

    fn with(mut self, methods: &str, pattern: ResourcePattern) -> Self {
        let methods = methods
            .split_whitespace()
            .map(|m| Method::from_bytes(m.as_bytes()).unwrap())
            .collect();
        self.resources.push(ResourceRoute { methods, pattern });
        self
    }
}

/// Routes a request line such as `GET /a/b?x=1`.
fn route(table: &RouteTable, request: &str) -> RouteMatch {
    let (method, target) = request.split_once(' ').unwrap();
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    table.route(&method, path, query)
}

/// `(api, resource)` of a match, or `None`.
fn hit(table: &RouteTable, request: &str) -> Option<(usize, usize)> {
    match route(table, request) {
        RouteMatch::Found { api, resource, .. } => Some((api, resource)),
        _ => None,
    }
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

// === API selection ===

#[test]
fn apis_are_chosen_by_context_at_a_segment_boundary() {
    let table = RouteTable::build(&[
        api("health", "/healthcare").any(""),
        api("healthv", "/healthcare/v2").any(""),
        api("root", "/").any(""),
    ])
    .unwrap();
    let cases = [
        ("GET /healthcare", Some((0, 0))),
        ("GET /healthcare/", Some((0, 0))),
        ("GET /healthcare/doctors", Some((0, 0))),
        ("GET /healthcare/v2", Some((1, 0))),
        ("GET /healthcare/v2/doctors", Some((1, 0))),
        ("GET /healthcare/v20", Some((0, 0))),
        ("GET /healthcareX", Some((2, 0))),
        ("GET /other", Some((2, 0))),
        ("GET /", Some((2, 0))),
    ];
    for (request, expected) in cases {
        assert_eq!(hit(&table, request), expected, "{request}");
    }
}

#[test]
fn without_a_root_api_an_unknown_context_is_not_found() {
    let table = RouteTable::build(&[api("health", "/healthcare").any("")]).unwrap();
    assert_eq!(
        route(&table, "GET /health"),
        RouteMatch::NotFound { api: None }
    );
    assert_eq!(
        route(&table, "GET /healthcarex/a"),
        RouteMatch::NotFound { api: None }
    );
    assert_eq!(route(&table, "GET *"), RouteMatch::NotFound { api: None });
}

#[test]
fn a_trailing_slash_on_the_context_is_ignored() {
    let table = RouteTable::build(&[api("a", "/shop/").any("")]).unwrap();
    assert_eq!(hit(&table, "GET /shop/items"), Some((0, 0)));
}

#[test]
fn url_versioning_puts_the_version_after_the_context() {
    let table = RouteTable::build(&[
        api("v1", "/stock")
            .versioned("1.0.0", VersionType::Url)
            .template("GET", "/quote"),
        api("v2", "/stock")
            .versioned("2.0.0", VersionType::Url)
            .template("GET", "/quote"),
    ])
    .unwrap();
    assert_eq!(hit(&table, "GET /stock/1.0.0/quote"), Some((0, 0)));
    assert_eq!(hit(&table, "GET /stock/2.0.0/quote"), Some((1, 0)));
    assert_eq!(
        route(&table, "GET /stock/quote"),
        RouteMatch::NotFound { api: None }
    );
    assert_eq!(
        route(&table, "GET /stock/3.0.0/quote"),
        RouteMatch::NotFound { api: None }
    );
}

#[test]
fn context_versioning_replaces_the_placeholder_or_appends_the_version() {
    let table = RouteTable::build(&[
        api("placeholder", "/{version}/orders")
            .versioned("v1", VersionType::Context)
            .any(""),
        api("appended", "/payments")
            .versioned("v2", VersionType::Context)
            .any(""),
    ])
    .unwrap();
    assert_eq!(hit(&table, "GET /v1/orders/7"), Some((0, 0)));
    assert_eq!(hit(&table, "GET /payments/v2/x"), Some((1, 0)));
    assert_eq!(hit(&table, "GET /payments/x"), None);
}

#[test]
fn the_url_postfix_is_what_follows_the_context_and_version_with_the_query() {
    let table = RouteTable::build(&[
        api("plain", "/shop").any(""),
        api("url", "/stock")
            .versioned("1.0", VersionType::Url)
            .any(""),
        api("root", "/").any(""),
    ])
    .unwrap();
    let cases = [
        ("GET /shop/items/3?sort=asc", "/items/3?sort=asc"),
        ("GET /shop", ""),
        ("GET /shop/", "/"),
        ("GET /stock/1.0/quote", "/quote"),
        ("GET /misc/path", "/misc/path"),
    ];
    for (request, expected) in cases {
        let RouteMatch::Found { url_postfix, .. } = route(&table, request) else {
            panic!("{request} did not match");
        };
        assert_eq!(url_postfix, expected, "{request}");
    }
}

// === URL mappings ===

#[test]
fn url_mappings_prefer_exact_then_longest_prefix_then_extension() {
    let table = RouteTable::build(&[api("m", "/m")
        .mapping("", "/foo/*") // 0
        .mapping("", "/foo/bar/*") // 1
        .mapping("", "/foo/bar/baz") // 2
        .mapping("", "*.do") // 3
        .mapping("", "/exact/") // 4
        .mapping("", "*.x.do")]) // 5
    .unwrap();
    let cases = [
        ("GET /m/foo", Some((0, 0))),
        ("GET /m/foo/", Some((0, 0))),
        ("GET /m/foo/zip", Some((0, 0))),
        ("GET /m/foo/bar", Some((0, 1))),
        ("GET /m/foo/bar/qux/deep", Some((0, 1))),
        ("GET /m/foo/bar/baz", Some((0, 2))),
        ("GET /m/foo/bar/baz/", Some((0, 2))),
        ("GET /m/foo/bar/baz/more", Some((0, 1))),
        ("GET /m/foobar", None),
        ("GET /m/foo/run.do", Some((0, 0))),
        ("GET /m/run.do", Some((0, 3))),
        ("GET /m/a/run.x.do", Some((0, 5))),
        ("GET /m/exact", Some((0, 4))),
        ("GET /m/exact/", Some((0, 4))),
        ("GET /m/exact/no", None),
    ];
    for (request, expected) in cases {
        assert_eq!(hit(&table, request), expected, "{request}");
    }
}

#[test]
fn the_bare_wildcard_mapping_takes_every_path_but_yields_to_longer_prefixes() {
    let table = RouteTable::build(&[api("m", "/m").mapping("", "/*").mapping("", "/a/*")]).unwrap();
    assert_eq!(hit(&table, "GET /m"), Some((0, 0)));
    assert_eq!(hit(&table, "GET /m/zzz"), Some((0, 0)));
    assert_eq!(hit(&table, "GET /m/a/b"), Some((0, 1)));
}

#[test]
fn url_mappings_are_tried_before_templates_and_templates_before_the_default() {
    let table = RouteTable::build(&[api("m", "/m")
        .any("") // 0
        .template("", "/items/{id}") // 1
        .mapping("", "/items/special")]) // 2
    .unwrap();
    assert_eq!(hit(&table, "GET /m/items/special"), Some((0, 2)));
    assert_eq!(hit(&table, "GET /m/items/9"), Some((0, 1)));
    assert_eq!(hit(&table, "GET /m/elsewhere"), Some((0, 0)));
}

// === URI templates ===

#[test]
fn template_variables_are_bound_and_percent_decoded() {
    let table = RouteTable::build(&[
        api("h", "/healthcare").template("GET", "/categories/{category}/doctors/{doctor}")
    ])
    .unwrap();
    let RouteMatch::Found {
        uri_params,
        query_params,
        ..
    } = route(
        &table,
        "GET /healthcare/categories/surgery%20ward/doctors/J%C3%B6rg+K",
    )
    else {
        panic!("no match");
    };
    assert_eq!(
        uri_params,
        pairs(&[("category", "surgery ward"), ("doctor", "Jörg+K")])
    );
    assert!(query_params.is_empty());
}

#[test]
fn every_query_parameter_is_returned_decoded_in_order() {
    let table = RouteTable::build(&[api("h", "/h").template("GET", "/search")]).unwrap();
    let RouteMatch::Found { query_params, .. } =
        route(&table, "GET /h/search?q=a+b%26c&flag&empty=&q=second")
    else {
        panic!("no match");
    };
    assert_eq!(
        query_params,
        pairs(&[("q", "a b&c"), ("flag", ""), ("empty", ""), ("q", "second")])
    );
}

#[test]
fn a_template_query_part_binds_and_requires_its_parameters() {
    let table = RouteTable::build(&[api("h", "/h")
        .template("GET", "/reserve?q={query}&limit={n}") // 0
        .template("GET", "/reserve")]) // 1
    .unwrap();
    let RouteMatch::Found {
        resource,
        uri_params,
        ..
    } = route(&table, "GET /h/reserve?extra=1&limit=5&q=red+car")
    else {
        panic!("no match");
    };
    assert_eq!(resource, 0);
    assert_eq!(uri_params, pairs(&[("query", "red car"), ("n", "5")]));
    assert_eq!(hit(&table, "GET /h/reserve?q=x"), Some((0, 1)));
    assert_eq!(hit(&table, "GET /h/reserve"), Some((0, 1)));
}

#[test]
fn a_literal_query_value_in_a_template_must_match_exactly() {
    let table = RouteTable::build(&[api("h", "/h")
        .template("GET", "/orders?status=open")
        .template("GET", "/orders?status=closed")])
    .unwrap();
    assert_eq!(hit(&table, "GET /h/orders?status=open"), Some((0, 0)));
    assert_eq!(hit(&table, "GET /h/orders?status=closed"), Some((0, 1)));
    assert_eq!(hit(&table, "GET /h/orders?status=other"), None);
}

#[test]
fn a_template_without_a_query_part_accepts_any_query() {
    let table = RouteTable::build(&[api("h", "/h").template("GET", "/items/{id}")]).unwrap();
    assert_eq!(hit(&table, "GET /h/items/3?x=1&y"), Some((0, 0)));
}

#[test]
fn templates_tolerate_a_trailing_slash_on_either_side() {
    let table = RouteTable::build(&[api("h", "/h").template("GET", "/items/{id}/")]).unwrap();
    assert_eq!(hit(&table, "GET /h/items/3"), Some((0, 0)));
    assert_eq!(hit(&table, "GET /h/items/3/"), Some((0, 0)));
    assert_eq!(hit(&table, "GET /h/items/3/x"), None);
}

#[test]
fn the_root_template_matches_the_bare_context() {
    let table = RouteTable::build(&[api("h", "/h").template("GET", "/")]).unwrap();
    assert_eq!(hit(&table, "GET /h"), Some((0, 0)));
    assert_eq!(hit(&table, "GET /h/"), Some((0, 0)));
    assert_eq!(hit(&table, "GET /h/x"), None);
}

#[test]
fn static_segments_beat_variables_whatever_the_declaration_order() {
    let table = RouteTable::build(&[api("h", "/h")
        .template("GET", "/items/{id}")
        .template("GET", "/items/latest")])
    .unwrap();
    assert_eq!(hit(&table, "GET /h/items/latest"), Some((0, 1)));
    assert_eq!(hit(&table, "GET /h/items/7"), Some((0, 0)));
}

#[test]
fn wildcards_and_reserved_variables_take_the_rest_of_the_path() {
    let table = RouteTable::build(&[api("h", "/h")
        .template("GET", "/files/{+path}") // 0
        .template("GET", "/orders/{id}") // 1
        .template("GET", "/orders/*")]) // 2
    .unwrap();
    let RouteMatch::Found { uri_params, .. } = route(&table, "GET /h/files/a/b%2Fc.txt") else {
        panic!("no match");
    };
    assert_eq!(uri_params, pairs(&[("path", "a/b/c.txt")]));
    assert_eq!(hit(&table, "GET /h/orders/5"), Some((0, 1)));
    assert_eq!(hit(&table, "GET /h/orders/5/lines"), Some((0, 2)));
    assert_eq!(hit(&table, "GET /h/orders"), Some((0, 2)));
    assert_eq!(hit(&table, "GET /h/files"), None);
}

#[test]
fn a_variable_may_share_its_segment_with_a_literal() {
    let table = RouteTable::build(&[api("h", "/h").template("GET", "/img/{name}.png")]).unwrap();
    let RouteMatch::Found { uri_params, .. } = route(&table, "GET /h/img/logo.png") else {
        panic!("no match");
    };
    assert_eq!(uri_params, pairs(&[("name", "logo")]));
}

// === methods ===

#[test]
fn a_path_matched_only_by_other_methods_is_method_not_allowed_with_the_allow_list() {
    let table = RouteTable::build(&[api("h", "/h")
        .template("GET", "/items/{id}")
        .template("PUT DELETE", "/items/{id}")
        .template("POST", "/items")])
    .unwrap();
    assert_eq!(hit(&table, "DELETE /h/items/1"), Some((0, 1)));
    assert_eq!(
        route(&table, "POST /h/items/1"),
        RouteMatch::MethodNotAllowed {
            api: 0,
            allow: vec![Method::GET, Method::PUT, Method::DELETE]
        }
    );
    assert_eq!(
        route(&table, "PATCH /h/items"),
        RouteMatch::MethodNotAllowed {
            api: 0,
            allow: vec![Method::POST]
        }
    );
    assert_eq!(
        route(&table, "GET /h/nothing"),
        RouteMatch::NotFound { api: Some(0) }
    );
}

#[test]
fn a_resource_without_methods_accepts_any_method_even_unusual_ones() {
    let table = RouteTable::build(&[api("h", "/h")
        .template("", "/items")
        .template("GET", "/items/{id}")])
    .unwrap();
    assert_eq!(hit(&table, "PURGE /h/items"), Some((0, 0)));
    assert_eq!(hit(&table, "GET /h/items"), Some((0, 0)));
    assert_eq!(hit(&table, "GET /h/items/2"), Some((0, 1)));
    assert!(matches!(
        route(&table, "PURGE /h/items/2"),
        RouteMatch::MethodNotAllowed { .. }
    ));
}

#[test]
fn the_method_picks_between_resources_sharing_a_path_at_different_levels() {
    // Synapse filters by method before dispatching, so a template can win over a mapping.
    let table = RouteTable::build(&[api("h", "/h")
        .mapping("GET", "/items/*")
        .template("POST", "/items/{id}")])
    .unwrap();
    assert_eq!(hit(&table, "GET /h/items/1"), Some((0, 0)));
    assert_eq!(hit(&table, "POST /h/items/1"), Some((0, 1)));
}

// === build errors ===

#[test]
fn every_conflict_and_invalid_pattern_is_reported_with_its_indices() {
    let errors = RouteTable::build(&[
        api("a", "/a")
            .template("GET", "/x/{id}") // 0
            .template("GET POST", "/x/{other}") // 1: same shape, GET overlaps 0
            .template("POST", "/y/{bad") // 2: invalid
            .mapping("", "/m/*") // 3
            .mapping("PUT", "/m/*") // 4: overlaps 3 for PUT
            .any("") // 5
            .any(""), // 6: overlaps 5
        api("dup", "/a/").any(""),
        api("badctx", "shop").any(""),
    ])
    .unwrap_err();
    let mut shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
    shown.sort();
    assert_eq!(
        shown,
        vec![
            "api[0].resources[1]: overlaps resources[0] for GET /x/{other}",
            "api[0].resources[2]: invalid pattern \"/y/{bad\": unbalanced '{'",
            "api[0].resources[4]: overlaps resources[3] for PUT /m/*",
            "api[0].resources[6]: overlaps resources[5] for * (any path)",
            "api[1]: context /a is already used by api[0]",
            "api[2]: invalid context: context \"shop\" must start with '/'",
        ]
    );
}

#[test]
fn the_same_template_with_different_query_requirements_is_no_conflict() {
    let built = RouteTable::build(&[api("a", "/a")
        .template("GET", "/s?q={q}")
        .template("GET", "/s?id={id}")
        .template("GET", "/s")]);
    assert!(built.is_ok());
}

#[test]
fn invalid_templates_and_mappings_are_rejected_with_a_reason() {
    let cases = [
        (
            ResourcePattern::UriTemplate("items/{id}".into()),
            "starts with '/'",
        ),
        (
            ResourcePattern::UriTemplate("/a/{#frag}".into()),
            "operator",
        ),
        (
            ResourcePattern::UriTemplate("/a/{x}/{x}".into()),
            "bound twice",
        ),
        (
            ResourcePattern::UriTemplate("/a/{+rest}/b".into()),
            "whole last segment",
        ),
        (
            ResourcePattern::UriTemplate("/a/{x}-{y}".into()),
            "one parameter",
        ),
        (ResourcePattern::UriTemplate("/a?q".into()), "name={var}"),
        (
            ResourcePattern::UriTemplate("/a/{a b}".into()),
            "invalid variable",
        ),
        (ResourcePattern::UrlMapping("foo".into()), "starts with '/'"),
        (ResourcePattern::UrlMapping("/a/*/b".into()), "'*'"),
        (ResourcePattern::UrlMapping("*.".into()), "extension"),
    ];
    for (pattern, expected) in cases {
        let text = format!("{pattern:?}");
        let mut a = api("a", "/a");
        a.resources.push(ResourceRoute {
            methods: vec![],
            pattern,
        });
        let errors = RouteTable::build(&[a]).unwrap_err();
        assert_eq!(errors.len(), 1, "{text}");
        assert!(
            errors[0].to_string().contains(expected),
            "{text}: {}",
            errors[0]
        );
    }
}

#[test]
fn a_version_placeholder_without_a_version_is_an_invalid_context() {
    let errors = RouteTable::build(&[api("a", "/{version}/a").any("")]).unwrap_err();
    assert!(matches!(
        &errors[..],
        [RouteError::InvalidContext { api: 0, .. }]
    ));
}

#[test]
fn the_same_context_with_different_versions_is_no_conflict() {
    let built = RouteTable::build(&[
        api("a", "/a").versioned("1", VersionType::Url).any(""),
        api("b", "/a").versioned("2", VersionType::Url).any(""),
        api("c", "/a").any(""),
    ]);
    let table = built.unwrap();
    assert_eq!(hit(&table, "GET /a/1/x"), Some((0, 0)));
    assert_eq!(hit(&table, "GET /a/2/x"), Some((1, 0)));
    assert_eq!(hit(&table, "GET /a/3/x"), Some((2, 0)));
}
