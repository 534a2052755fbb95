//! MI data services (`.dbs`) to a DataService and its DataSources: each `<config>` becomes a
//! DataSource (driver to `type`, JDBC URL to Ferry's URL, the password to a secret
//! reference), each `<query>` a query (SQL with `:name` parameters, typed and validated
//! params, the result's element, row and column mapping), each `<resource>` a method and path
//! running one query. SOAP operations, nested queries and stored-procedure outputs are
//! reported where they are written.

use serde_json::{Value, json};

use super::cx::{Cx, Obj, segment};
use super::dom::Element;
use super::names::Family;

/// The Synapse name of the DataSource made from `config`: the data service's own name when it
/// has one config (the common case), else `<service>_<config id>`.
pub fn source_synapse(data: &Element, config: &Element) -> String {
    let service = data.attr("name").unwrap_or_default();
    if data.children_named("config").count() <= 1 {
        return service.to_string();
    }
    format!("{service}_{}", config.attr("id").unwrap_or_default())
}

// === DataSource ===

/// A JDBC driver class to Ferry's database type.
fn database_type(driver: &str) -> Option<&'static str> {
    match driver.trim() {
        "org.postgresql.Driver" => Some("postgres"),
        "com.mysql.jdbc.Driver" | "com.mysql.cj.jdbc.Driver" | "org.mariadb.jdbc.Driver" => {
            Some("mysql")
        }
        "org.sqlite.JDBC" => Some("sqlite"),
        _ => None,
    }
}

/// A JDBC URL to the URL Ferry's driver takes, and whether JDBC options were dropped.
fn database_url(jdbc: &str) -> Option<(String, bool)> {
    let rest = jdbc.trim().strip_prefix("jdbc:")?;
    if let Some(path) = rest.strip_prefix("sqlite:") {
        return Some((format!("sqlite:{path}"), false));
    }
    let (scheme, rest) = if let Some(r) = rest.strip_prefix("postgresql:") {
        ("postgres", r)
    } else if let Some(r) = rest
        .strip_prefix("mysql:")
        .or_else(|| rest.strip_prefix("mariadb:"))
    {
        ("mysql", r)
    } else {
        return None;
    };
    let address = rest.strip_prefix("//")?;
    let (address, options) = match address.split_once('?') {
        Some((a, o)) => (a, !o.is_empty()),
        None => (address, false),
    };
    Some((format!("{scheme}://{address}"), options))
}

/// `<config>` to a DataSource spec.
pub fn source(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(el, &["id", "enableOData"]);
    if cx.bool_attr(el, "enableOData") == Some(true) {
        cx.not_imported(el, "OData is not served by Ferry; left out");
    }
    let mut props: Vec<(&str, &Element)> = Vec::new();
    for (i, p) in el.children.iter().enumerate() {
        let seg = segment(el, i);
        cx.within(seg, |cx| {
            if p.name != "property" {
                cx.not_imported(p, format!("element <{}> is not imported", p.name));
                return;
            }
            cx.check_attrs(p, &["name"]);
            props.push((p.attr("name").unwrap_or_default(), p));
        });
    }
    let prop = |name: &str| -> Option<(String, &Element)> {
        props
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| (p.text_trimmed().to_string(), *p))
    };
    if let Some((name, p)) = prop("carbon_datasource_name") {
        cx.not_imported(
            p,
            format!("the carbon data source {name} is defined in deployment.toml, not in the project: write a DataSource named {name} (docs/data.md); left out"),
        );
        return None;
    }
    let Some((driver, driver_el)) = prop("driverClassName") else {
        cx.not_imported(el, "a config without driverClassName; left out");
        return None;
    };
    let Some(type_) = database_type(&driver) else {
        cx.not_imported(
            driver_el,
            format!("the driver {driver} is not one Ferry connects with (PostgreSQL, MySQL/MariaDB, SQLite); left out"),
        );
        return None;
    };
    let mut out = Obj::new().s("type", Some(type_));
    match prop("url") {
        Some((url, p)) => match url.trim().strip_prefix("$SYSTEM:") {
            Some(var) => {
                cx.adjusted(p, format!("the URL comes from the environment variable {var} (urlFrom.env); it must hold a URL Ferry's driver takes ({type_}://...), not a JDBC URL"));
                out = out.v("urlFrom", Some(json!({ "env": var })));
            }
            None => match database_url(&url) {
                Some((u, options)) => {
                    if options {
                        cx.adjusted(p, "JDBC URL options (after ?) are not options of Ferry's driver; left out of the URL");
                    }
                    out = out.s("url", Some(u));
                }
                None => {
                    cx.not_imported(p, format!("{url} is not a JDBC URL of {type_}; left out"));
                    return None;
                }
            },
        },
        None => {
            cx.not_imported(el, "a config without url; left out");
            return None;
        }
    }
    if let Some((user, _)) = prop("username") {
        out = out.s("username", Some(user));
    }
    if let Some((password, p)) = prop("password").filter(|(v, _)| !v.is_empty()) {
        let from = cx.secret_from(p, &password, "PASSWORD", "database password");
        out = out.v("passwordFrom", Some(from));
    }
    let mut pool = Obj::new();
    for (name, key) in [
        ("maxActive", "maxConnections"),
        ("minIdle", "minConnections"),
        ("maxWait", "acquireTimeoutMs"),
    ] {
        if let Some((v, p)) = prop(name)
            && let Some(n) = cx.number(p, name, &v).filter(|n| *n >= 0)
        {
            pool = pool.v(key, Some(json!(n)));
        }
    }
    for (name, p) in &props {
        match *name {
            "driverClassName" | "url" | "username" | "password" | "maxActive" | "minIdle"
            | "maxWait" => {}
            "validationQuery" | "testOnBorrow" | "testWhileIdle" => cx.adjusted(
                p,
                format!("{name}: Ferry tests every connection before a request gets it"),
            ),
            _ => cx.not_imported(
                p,
                format!("the pool setting {name} has no Ferry counterpart; left out"),
            ),
        }
    }
    let pool = pool.build();
    Some(out.v("pool", (pool != json!({})).then_some(pool)).build())
}

// === DataService ===

/// `<data>` to a DataService spec.
pub fn service(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(
        el,
        &[
            "name",
            "transports",
            "serviceNamespace",
            "serviceGroup",
            "serviceStatus",
            "enableBatchRequests",
            "enableBoxcarring",
            "disableLegacyBoxcarringMode",
            "disableStreaming",
        ],
    );
    cx.check_children(
        el,
        &["description", "config", "query", "operation", "resource"],
    );
    let service = el.attr("name").unwrap_or_default();
    for flag in ["enableBatchRequests", "enableBoxcarring"] {
        if cx.bool_attr(el, flag) == Some(true) {
            cx.not_imported(el, format!("{flag}: Ferry has no generated batch or box requests; write resources with batch: true or queries: [a, b] (docs/data.md)"));
        }
    }
    if el.attr("transports").is_some_and(|t| {
        t.split_whitespace()
            .any(|t| !matches!(t, "http" | "https" | "local"))
    }) {
        cx.adjusted(
            el,
            "transports: a DataService is served over the runtime's HTTP(S) listeners only",
        );
    }
    let configs: Vec<&Element> = el.children_named("config").collect();
    let Some(first) = configs.first() else {
        cx.not_imported(el, "a data service without config; left out");
        return None;
    };
    // Ferry's DataService reads one DataSource: the config of the first query (or the
    // first config); queries of other configs are reported.
    let used = el
        .children_named("query")
        .find_map(|q| q.attr("useConfig"))
        .and_then(|id| configs.iter().find(|c| c.attr("id") == Some(id)))
        .unwrap_or(first);
    let used_id = used.attr("id").unwrap_or_default();
    let source_name = source_synapse(el, used);
    // The DataSource is its own artifact; its lines are reported there, this one only says
    // why the service went with it.
    let mut probe = Cx::new(cx.file, cx.text, cx.names);
    if source(&mut probe, used).is_none() {
        cx.not_imported(
            el,
            format!("the data service {service} reads config {used_id}, which cannot be imported; left out"),
        );
        return None;
    }
    let data_source = cx.reference(Family::DataSource, &source_name);
    let mut queries = Vec::new();
    let mut imported = Vec::new();
    let mut xml = 0;
    let mut json_results = 0;
    for (i, q) in el.children.iter().enumerate() {
        if q.name != "query" {
            continue;
        }
        cx.within(segment(el, i), |cx| {
            if q.attr("useConfig").is_some_and(|c| c != used_id) {
                cx.not_imported(q, format!("the query uses config {}, and a Ferry DataService reads one DataSource ({used_id}); split it into a DataService of its own; left out", q.attr("useConfig").unwrap_or_default()));
                return;
            }
            if let Some((value, output)) = query(cx, q) {
                match output {
                    Some(Output::Json) => json_results += 1,
                    Some(Output::Xml) => xml += 1,
                    None => {}
                }
                imported.push(q.attr("id").unwrap_or_default().to_string());
                queries.push(value);
            }
        });
    }
    let mut resources = Vec::new();
    for (i, r) in el.children.iter().enumerate() {
        let seg = segment(el, i);
        match r.name.as_str() {
            "resource" => {
                if let Some(v) = cx.within(seg, |cx| resource(cx, r, &imported)) {
                    resources.push(v);
                }
            }
            "operation" => cx.within(seg, |cx| {
                cx.not_imported(r, format!("the SOAP operation {} is not served by Ferry; expose its query as a resource; left out", r.attr("name").unwrap_or_default()));
            }),
            _ => {}
        }
    }
    if queries.is_empty() || resources.is_empty() {
        cx.not_imported(
            el,
            format!("the data service {service} has no query served by a resource Ferry can import; left out"),
        );
        return None;
    }
    // MI answers XML unless a result says JSON; a request's Accept chooses in both.
    let output = if json_results > 0 && xml == 0 {
        None
    } else {
        if json_results > 0 {
            cx.adjusted(el, "results are XML in some queries and JSON in others: Ferry answers one type per service (XML here) unless the request's Accept asks for the other");
        }
        Some("xml")
    };
    let description = el
        .child("description")
        .map(|d| d.text_trimmed().to_string())
        .filter(|d| !d.is_empty());
    Some(
        Obj::new()
            .s("dataSource", Some(data_source))
            .s("description", description)
            .s("outputType", output)
            .list("queries", queries)
            .list("resources", resources)
            .build(),
    )
}

/// The output type a result asked for.
enum Output {
    Xml,
    Json,
}

/// MI's `sqlType` to Ferry's param type (`None`: the default, string).
fn param_type(sql_type: &str) -> Result<Option<&'static str>, ()> {
    Ok(match sql_type.to_ascii_uppercase().as_str() {
        "STRING" | "VARCHAR" | "CHAR" | "NCHAR" | "NVARCHAR" | "TEXT" | "LONGVARCHAR" => None,
        "INTEGER" | "BIGINT" | "SMALLINT" | "TINYINT" | "LONG" => Some("integer"),
        "DOUBLE" | "FLOAT" | "REAL" => Some("number"),
        "NUMERIC" | "DECIMAL" => Some("decimal"),
        "BOOLEAN" | "BIT" => Some("boolean"),
        "DATE" => Some("date"),
        "TIMESTAMP" => Some("timestamp"),
        _ => return Err(()),
    })
}

fn query(cx: &mut Cx<'_>, q: &Element) -> Option<(Value, Option<Output>)> {
    cx.check_attrs(
        q,
        &[
            "id",
            "useConfig",
            "returnUpdatedRowCount",
            "returnGeneratedKeys",
            "keyColumns",
        ],
    );
    cx.check_children(q, &["sql", "param", "result", "properties"]);
    let id = q.attr("id").unwrap_or_default();
    if cx.bool_attr(q, "returnGeneratedKeys") == Some(true) {
        cx.not_imported(q, "returnGeneratedKeys: write INSERT ... RETURNING with a result instead (docs/data.md); left out");
    }
    let sqls: Vec<&Element> = q.children_named("sql").collect();
    let Some(sql_el) = sqls
        .iter()
        .find(|s| s.attr("dialect").is_none())
        .or(sqls.first())
    else {
        cx.not_imported(q, format!("the query {id} has no <sql> (expression, SPARQL and Excel queries are not run by Ferry); left out"));
        return None;
    };
    if sqls.len() > 1 {
        cx.adjusted(
            sql_el,
            "several SQL dialects: the one without dialect (or the first) is kept; Ferry's DataSource has one database",
        );
    }
    let mut sql = sql_el.text_trimmed().to_string();
    let mut params = Vec::new();
    let mut ordinals = Vec::new();
    for (i, p) in q.children.iter().enumerate() {
        if p.name != "param" {
            continue;
        }
        let param = cx.within(segment(q, i), |cx| param(cx, p));
        match param {
            Some((value, ordinal)) => {
                if let Some(o) = ordinal {
                    ordinals.push((o, value["name"].as_str().unwrap_or_default().to_string()));
                }
                params.push(value);
            }
            None => return None,
        }
    }
    if sql.contains('?') && !ordinals.is_empty() {
        ordinals.sort();
        let names: Vec<String> = ordinals.into_iter().map(|(_, n)| n).collect();
        match positional_to_named(&sql, &names) {
            Some(named) => {
                cx.adjusted(
                    sql_el,
                    "the positional ? parameters are written as :name (by ordinal)",
                );
                sql = named;
            }
            None => {
                cx.not_imported(sql_el, "the number of ? placeholders does not match the ordinals of the params; left out");
                return None;
            }
        }
    }
    let mut max_rows = None;
    if let Some(props) = q.child("properties") {
        cx.within("properties", |cx| {
            for p in &props.children {
                match p.attr("name") {
                    Some("maxRows") => {
                        max_rows = cx
                            .number(p, "maxRows", p.text_trimmed())
                            .filter(|n| *n > 0)
                            .map(|n| json!(n));
                    }
                    other => cx.not_imported(
                        p,
                        format!(
                            "the query property {} has no Ferry counterpart; left out",
                            other.unwrap_or_default()
                        ),
                    ),
                }
            }
        });
    }
    let (result, output) = match q.child("result") {
        Some(r) => match cx.within("result", |cx| result(cx, r)) {
            Some((v, o)) => (Some(v), Some(o)),
            None => return None,
        },
        None => (None, None),
    };
    Some((
        Obj::new()
            .s("name", Some(id))
            .s("sql", Some(sql))
            .list("params", params)
            .v("result", result)
            .v("maxRows", max_rows)
            .build(),
        output,
    ))
}

/// `?` placeholders outside quotes replaced by `:name` in order; `None` when the counts
/// differ.
fn positional_to_named(sql: &str, names: &[String]) -> Option<String> {
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    let mut next = names.iter();
    for c in sql.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, '?') => {
                out.push(':');
                out.push_str(next.next()?);
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    next.next().is_none().then_some(out)
}

/// A `<param>` and its ordinal, or `None` (reported) when the query cannot run without it.
fn param(cx: &mut Cx<'_>, p: &Element) -> Option<(Value, Option<i64>)> {
    cx.check_attrs(
        p,
        &[
            "name",
            "sqlType",
            "paramType",
            "type",
            "defaultValue",
            "optional",
            "ordinal",
        ],
    );
    cx.check_children(
        p,
        &[
            "validateLongRange",
            "validateDoubleRange",
            "validateLength",
            "validatePattern",
        ],
    );
    let name = p.attr("name").unwrap_or_default();
    if p.attr("type")
        .is_some_and(|t| !t.eq_ignore_ascii_case("IN"))
    {
        cx.not_imported(p, format!("the {} parameter {name}: stored procedures with OUT parameters are not run by Ferry; query left out", p.attr("type").unwrap_or_default()));
        return None;
    }
    if p.attr("paramType")
        .is_some_and(|t| !t.eq_ignore_ascii_case("SCALAR"))
    {
        cx.not_imported(
            p,
            format!("the ARRAY parameter {name} is not available in Ferry; query left out"),
        );
        return None;
    }
    let sql_type = p.attr("sqlType").unwrap_or("STRING");
    let Ok(type_) = param_type(sql_type) else {
        cx.not_imported(
            p,
            format!("sqlType {sql_type} of {name} has no Ferry param type; query left out"),
        );
        return None;
    };
    let ordinal = match p.attr("ordinal") {
        Some(o) => cx.number(p, "ordinal", o),
        None => None,
    };
    let mut out = Obj::new().s("name", Some(name)).s("type", type_);
    let mut optional = cx.bool_attr(p, "optional") == Some(true);
    match p.attr("defaultValue") {
        Some("#{NULL}") => optional = true,
        Some(d) => out = out.s("default", Some(d)),
        None => {}
    }
    out = out.v("optional", optional.then_some(json!(true)));
    for v in &p.children {
        let number = |cx: &mut Cx<'_>, attr: &str| -> Option<Value> {
            let text = v.attr(attr)?;
            if let Ok(n) = text.trim().parse::<i64>() {
                return Some(json!(n));
            }
            match text.trim().parse::<f64>() {
                Ok(n) if n.is_finite() => Some(json!(n)),
                _ => {
                    cx.not_imported(v, format!("{attr} \"{text}\" is not a number; left out"));
                    None
                }
            }
        };
        match v.name.as_str() {
            "validateLongRange" | "validateDoubleRange" => {
                cx.check_attrs(v, &["minimum", "maximum"]);
                out = out
                    .v("minimum", number(cx, "minimum"))
                    .v("maximum", number(cx, "maximum"));
            }
            "validateLength" => {
                cx.check_attrs(v, &["minimum", "maximum"]);
                if let Some(max) = v.attr("maximum")
                    && let Some(n) = cx.number(v, "maximum", max).filter(|n| *n >= 0)
                {
                    out = out.v("maxLength", Some(json!(n)));
                }
                if let Some(min) = v.attr("minimum")
                    && let Some(n) = cx.number(v, "minimum", min).filter(|n| *n > 0)
                {
                    if p.child("validatePattern").is_some() {
                        cx.not_imported(
                            v,
                            "a minimum length beside a pattern: add it to the pattern; left out",
                        );
                    } else {
                        cx.adjusted(
                            v,
                            format!(
                                "the minimum length {n} is written as the pattern (?s).{{{n},}}"
                            ),
                        );
                        out = out.s("pattern", Some(format!("(?s).{{{n},}}")));
                    }
                }
            }
            "validatePattern" => {
                cx.check_attrs(v, &["pattern"]);
                out = out.s("pattern", v.attr("pattern"));
            }
            _ => {}
        }
    }
    Some((out.build(), ordinal))
}

/// `<result>`: XML mappings (`element`, `rowName`, `<element name column>`) or a JSON
/// template (`{"Doctors": {"Doctor": [{"id": "$ID"}]}}`).
fn result(cx: &mut Cx<'_>, r: &Element) -> Option<(Value, Output)> {
    cx.check_attrs(
        r,
        &[
            "element",
            "rowName",
            "defaultNamespace",
            "outputType",
            "useColumnNumbers",
            "escapeNonPrintableChar",
        ],
    );
    if cx.bool_attr(r, "useColumnNumbers") == Some(true) {
        cx.adjusted(
            r,
            "useColumnNumbers: columns are named by their 1-based number as in MI",
        );
    }
    let output = r.attr("outputType").unwrap_or("xml");
    if output.eq_ignore_ascii_case("json") {
        return json_result(cx, r).map(|v| (v, Output::Json));
    }
    if !output.eq_ignore_ascii_case("xml") {
        cx.not_imported(
            r,
            format!("outputType {output} (RDF) is not answered by Ferry; query left out"),
        );
        return None;
    }
    cx.check_children(r, &["element", "attribute", "call-query"]);
    let mut columns = Vec::new();
    for (i, c) in r.children.iter().enumerate() {
        cx.within(segment(r, i), |cx| match c.name.as_str() {
            "element" => {
                cx.check_attrs(c, &["name", "column", "xsdType", "optional", "export", "exportType", "requiredRoles", "namespace", "arrayName"]);
                match c.attr("column") {
                    Some(column) => columns.push(
                        Obj::new()
                            .s("column", Some(column))
                            .s("name", c.attr("name").filter(|n| *n != column))
                            .build(),
                    ),
                    None => cx.not_imported(c, "an element without column (a query-param or a nested element) is not answered by Ferry; left out"),
                }
            }
            "attribute" => cx.not_imported(c, "XML attributes in results are not written by Ferry; left out"),
            "call-query" => cx.not_imported(c, "nested queries in a result are not run by Ferry; left out"),
            _ => {}
        });
    }
    Some((
        Obj::new()
            .s("element", r.attr("element"))
            .s("rowName", r.attr("rowName"))
            .s("namespace", r.attr("defaultNamespace"))
            .list("columns", columns)
            .build(),
        Output::Xml,
    ))
}

/// MI's JSON result template: `{"element": {"rowName": [{"name": "$column", ...}]}}`.
fn json_result(cx: &mut Cx<'_>, r: &Element) -> Option<Value> {
    let template: Value = match serde_json::from_str(r.text_trimmed()) {
        Ok(v) => v,
        Err(e) => {
            cx.not_imported(
                r,
                format!("the JSON result template does not parse ({e}); query left out"),
            );
            return None;
        }
    };
    let single_key = |v: &Value| -> Option<(String, Value)> {
        let map = v.as_object()?;
        (map.len() == 1).then(|| map.iter().next().map(|(k, v)| (k.clone(), v.clone())))?
    };
    let shape = single_key(&template).and_then(|(element, inner)| {
        let (row, fields) = single_key(&inner)?;
        let fields = match fields {
            Value::Array(mut items) if items.len() == 1 => items.pop()?,
            other => other,
        };
        Some((element, row, fields.as_object()?.clone()))
    });
    let Some((element, row, fields)) = shape else {
        cx.not_imported(
            r,
            "the JSON result template is not {\"element\": {\"row\": [{...}]}}; query left out",
        );
        return None;
    };
    let mut columns = Vec::new();
    for (name, value) in &fields {
        match value.as_str().and_then(|v| v.strip_prefix('$')) {
            Some(column) if !column.contains(['.', '(', ' ']) => columns.push(
                Obj::new()
                    .s("column", Some(column))
                    .s("name", (name != column).then_some(name.as_str()))
                    .build(),
            ),
            _ => cx.not_imported(r, format!("the field {name} of the JSON result is not \"$column\" (nested objects, constants and query-params are not answered by Ferry); left out")),
        }
    }
    Some(
        Obj::new()
            .s("element", Some(element))
            .s("rowName", Some(row))
            .list("columns", columns)
            .build(),
    )
}

/// `<resource method path>` with its `<call-query href>`.
fn resource(cx: &mut Cx<'_>, r: &Element, queries: &[String]) -> Option<Value> {
    cx.check_attrs(r, &["method", "path", "returnRequestStatus"]);
    cx.check_children(r, &["call-query", "description"]);
    let method = r.attr("method").unwrap_or("GET").to_ascii_uppercase();
    let mut path = r.attr("path").unwrap_or_default().trim().to_string();
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    if cx.bool_attr(r, "returnRequestStatus") == Some(true) {
        cx.adjusted(r, "returnRequestStatus: Ferry answers a write with {\"rowsAffected\": n} rather than REQUEST_STATUS");
    }
    let Some(call) = r.child("call-query") else {
        cx.not_imported(
            r,
            format!("the resource {method} {path} calls no query; left out"),
        );
        return None;
    };
    let href = call.attr("href").unwrap_or_default();
    if !queries.iter().any(|q| q == href) {
        cx.not_imported(r, format!("the resource {method} {path} calls the query {href}, which is not imported; left out"));
        return None;
    }
    let ok = cx.within("call-query", |cx| {
        cx.check_attrs(call, &["href"]);
        cx.check_children(call, &["with-param"]);
        for w in call.children_named("with-param") {
            cx.check_attrs(w, &["name", "query-param", "column", "param"]);
            let (Some(name), Some(from)) = (w.attr("name"), w.attr("query-param")) else {
                cx.not_imported(w, "a with-param without name and query-param is not passed by Ferry; resource left out");
                return false;
            };
            if name == from {
                continue;
            }
            let template = format!("{{{from}}}");
            if path.contains(&template) {
                cx.adjusted(w, format!("the path variable {{{from}}} is renamed {{{name}}}: Ferry binds a request value to the param of the same name"));
                path = path.replace(&template, &format!("{{{name}}}"));
            } else {
                cx.not_imported(w, format!("the request value {from} passed as {name}: Ferry binds a request value to the param of the same name; rename one of them; resource left out"));
                return false;
            }
        }
        true
    });
    ok.then(|| json!({ "method": method, "path": path, "query": href }))
}

#[cfg(test)]
mod tests;
