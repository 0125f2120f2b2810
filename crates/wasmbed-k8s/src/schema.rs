//! Makes the model's JSON schemas structural, as CRDs require.
//!
//! schemars describes an internally tagged enum (the rollout `Strategy`:
//! `{"type": "canary", "steps": [...]}`) as a `oneOf` of objects, one per
//! variant. A structural schema cannot say that: every property must be
//! declared once, with one type. [`make_structural`] rewrites such a
//! `oneOf` into one object holding the union of the variants' properties,
//! with the tag as an enum, and keeps what the variants required or
//! forbade as CEL rules (`x-kubernetes-validations`), so the API server
//! still refuses `{"type": "rolling"}` without `maxUnavailable`, or
//! `steps` on a blue-green strategy. It also drops what structural schemas
//! forbid (`additionalProperties` beside `properties`) and bounds unsigned
//! integers by their Rust type, so that whatever the API server accepts
//! the model can read. A merged property keeps no `default`: it belongs to
//! one variant, and the API server would apply it to every variant.
//!
//! [`violations`] checks the result; the CRD tests run it on every CRD.

use serde_json::{Map, Value, json};

const TAG: &str = "type";

/// Rewrites `schema` in place (see the module docs).
pub fn make_structural(schema: &mut Value) {
    if let Value::Object(obj) = schema {
        if let Some(Value::Array(branches)) = obj.get("oneOf")
            && let Some(merged) = merge_tagged(branches)
        {
            obj.remove("oneOf");
            for (k, v) in merged {
                obj.entry(k).or_insert(v);
            }
        }
        if obj.contains_key("properties") && obj.get("additionalProperties") == Some(&Value::Bool(false)) {
            obj.remove("additionalProperties");
        }
        if obj.get("type") == Some(&json!("integer")) {
            let max = match obj.get("format").and_then(Value::as_str) {
                Some("uint8") => Some(u64::from(u8::MAX)),
                Some("uint16") => Some(u64::from(u16::MAX)),
                Some("uint32") => Some(u64::from(u32::MAX)),
                // u64 needs none: the API server stores int64.
                _ => None,
            };
            if let Some(max) = max {
                obj.entry("maximum").or_insert(json!(max));
            }
        }
        for v in obj.values_mut() {
            make_structural(v);
        }
    } else if let Value::Array(items) = schema {
        for v in items {
            make_structural(v);
        }
    }
}

/// The tag value of one variant: `{"const": "x"}` or `{"enum": ["x"]}`.
fn tag_value(branch: &Map<String, Value>) -> Option<String> {
    let tag = branch.get("properties")?.get(TAG)?;
    if let Some(Value::String(s)) = tag.get("const") {
        return Some(s.clone());
    }
    match tag.get("enum")?.as_array()?.as_slice() {
        [Value::String(s)] => Some(s.clone()),
        _ => None,
    }
}

/// A schema without its human-facing parts, for comparing shapes.
fn shape(v: &Value) -> Value {
    let mut v = v.clone();
    if let Value::Object(o) = &mut v {
        o.remove("description");
        o.remove("default");
        o.remove("title");
    }
    v
}

fn required(branch: &Map<String, Value>) -> Vec<String> {
    branch
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// One object for a `oneOf` of tagged object variants, or `None` when the
/// branches are not that.
fn merge_tagged(branches: &[Value]) -> Option<Map<String, Value>> {
    let mut variants = Vec::new();
    for b in branches {
        let b = b.as_object()?;
        let tag = tag_value(b)?;
        let props = b.get("properties")?.as_object()?;
        variants.push((tag, b, props));
    }
    if variants.is_empty() {
        return None;
    }
    // Properties in first-seen order; the same name must have one shape.
    let mut props: Vec<(String, Value, Vec<String>)> = Vec::new();
    for (tag, _, p) in &variants {
        for (name, schema) in p.iter().filter(|(n, _)| n.as_str() != TAG) {
            let doc = schema.get("description").and_then(Value::as_str);
            match props.iter_mut().find(|(n, _, _)| n == name) {
                Some((_, existing, docs)) => {
                    if shape(existing) != shape(schema) {
                        return None;
                    }
                    docs.extend(doc.map(|d| format!("{tag}: {d}")));
                }
                None => {
                    props.push((name.clone(), schema.clone(), doc.map(|d| format!("{tag}: {d}")).into_iter().collect()))
                }
            }
        }
    }
    let tags: Vec<&str> = variants.iter().map(|(t, _, _)| t.as_str()).collect();
    let tag_doc: Vec<String> = variants
        .iter()
        .map(|(t, b, _)| match b.get("description").and_then(Value::as_str) {
            Some(d) => format!("{t}: {d}"),
            None => t.clone(),
        })
        .collect();
    let mut properties = Map::new();
    properties.insert(TAG.into(), json!({ "type": "string", "enum": tags, "description": tag_doc.join(" ") }));
    for (name, mut schema, docs) in props.iter().cloned() {
        if let Value::Object(o) = &mut schema {
            // A default is one variant's: applied to another, it would
            // break that variant's rules (and serde's deny_unknown_fields).
            o.remove("default");
            if !docs.is_empty() {
                o.insert("description".into(), Value::String(docs.join(" ")));
            }
        }
        properties.insert(name, schema);
    }
    let mut rules = Vec::new();
    for (tag, b, p) in &variants {
        for r in required(b).iter().filter(|r| r.as_str() != TAG) {
            rules.push(json!({
                "rule": format!("self.{TAG} != '{tag}' || has(self.{r})"),
                "message": format!("{TAG} {tag} needs {r}"),
            }));
        }
        for (name, _, _) in props.iter().filter(|(n, _, _)| !p.contains_key(n)) {
            rules.push(json!({
                "rule": format!("self.{TAG} != '{tag}' || !has(self.{name})"),
                "message": format!("{TAG} {tag} takes no {name}"),
            }));
        }
    }
    let mut out = Map::new();
    out.insert("type".into(), json!("object"));
    out.insert("properties".into(), Value::Object(properties));
    out.insert("required".into(), json!([TAG]));
    if !rules.is_empty() {
        out.insert("x-kubernetes-validations".into(), Value::Array(rules));
    }
    Some(out)
}

/// What keeps `schema` from being structural (empty when it is), each as
/// a JSON pointer and a reason.
pub fn violations(schema: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(schema, "", &mut out);
    out
}

fn walk(v: &Value, at: &str, out: &mut Vec<String>) {
    let Value::Object(o) = v else { return };
    let int_or_string = o.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    let preserve = o.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if o.contains_key("$ref") {
        out.push(format!("{at}: $ref"));
    }
    for k in ["oneOf", "anyOf", "allOf", "not"] {
        if o.contains_key(k) && !int_or_string {
            out.push(format!("{at}: {k}"));
        }
    }
    if !o.contains_key("type") && !int_or_string && !preserve {
        out.push(format!("{at}: no type"));
    }
    if o.get("uniqueItems") == Some(&Value::Bool(true)) {
        out.push(format!("{at}: uniqueItems"));
    }
    if o.contains_key("properties") && o.contains_key("additionalProperties") {
        out.push(format!("{at}: properties beside additionalProperties"));
    }
    if let Some(Value::Object(props)) = o.get("properties") {
        for (k, p) in props {
            walk(p, &format!("{at}/properties/{k}"), out);
        }
    }
    if let Some(items) = o.get("items") {
        walk(items, &format!("{at}/items"), out);
    }
    if let Some(extra @ Value::Object(_)) = o.get("additionalProperties") {
        walk(extra, &format!("{at}/additionalProperties"), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tagged() -> Value {
        json!({ "oneOf": [
            { "type": "object", "description": "Plain.", "properties": { "type": { "type": "string", "const": "plain" } },
              "required": ["type"], "additionalProperties": false },
            { "type": "object", "properties": { "type": { "type": "string", "enum": ["timed"] },
              "ms": { "type": "integer", "format": "uint32", "minimum": 0, "description": "How long." } },
              "required": ["type", "ms"], "additionalProperties": false },
        ]})
    }

    #[test]
    fn a_tagged_union_becomes_one_object_with_rules() {
        let mut s = tagged();
        make_structural(&mut s);
        assert!(violations(&s).is_empty(), "{:?}\n{s:#}", violations(&s));
        assert_eq!(s["properties"]["type"]["enum"], json!(["plain", "timed"]));
        assert_eq!(s["properties"]["type"]["description"], "plain: Plain. timed");
        assert_eq!(s["properties"]["ms"]["maximum"], json!(u32::MAX));
        assert_eq!(s["properties"]["ms"]["description"], "timed: How long.");
        assert_eq!(s["required"], json!(["type"]));
        let rules: Vec<&str> =
            s["x-kubernetes-validations"].as_array().unwrap().iter().map(|r| r["rule"].as_str().unwrap()).collect();
        assert_eq!(rules, ["self.type != 'plain' || !has(self.ms)", "self.type != 'timed' || has(self.ms)"]);
    }

    #[test]
    fn unions_it_cannot_merge_are_left_for_the_checker_to_report() {
        let mut s = json!({ "oneOf": [
            { "type": "object", "properties": { "type": { "const": "a" }, "x": { "type": "string" } } },
            { "type": "object", "properties": { "type": { "const": "b" }, "x": { "type": "integer" } } },
        ]});
        make_structural(&mut s);
        assert!(violations(&s).iter().any(|v| v.contains("oneOf")), "{s}");
        assert!(violations(&json!({ "type": "array", "uniqueItems": true, "items": { "$ref": "#/x" } })).len() >= 2);
    }
}
