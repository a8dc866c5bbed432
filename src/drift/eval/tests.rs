use super::*;
use std::collections::BTreeMap;
use std::path::Path;

fn scope() -> Scope {
    let mut s = Scope::new(Path::new("/m"));
    s.set_var("n", Value::int(2));
    s.set_var(
        "names",
        Value::List(vec![Value::string("a"), Value::string("b")]),
    );
    s.set_local("prefix", Value::string("app"));
    s
}

fn ok(text: &str) -> Value {
    eval_str(text, &scope()).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn json(text: &str) -> String {
    super::functions::encoding::json_encode(&ok(text))
}

#[test]
fn literals_templates_and_references() {
    assert_eq!(ok("\"${local.prefix}-${var.n}\""), Value::string("app-2"));
    assert_eq!(ok("12345678901234567890"), Value::int(12345678901234567890));
    assert_ne!(ok("12345678901234567890"), ok("12345678901234567891"));
    assert_eq!(
        ok("\"%{if var.n > 1}many%{else}one%{endif}\""),
        Value::string("many")
    );
    assert_eq!(
        ok("\"%{for x in var.names}[${x}]%{endfor}\""),
        Value::string("[a][b]")
    );
    assert_eq!(ok("\"a ${~ \"b\" ~} c\""), Value::string("abc"));
    assert_eq!(ok("terraform.workspace"), Value::string("default"));
    assert_eq!(ok("path.module"), Value::string("/m"));
}

#[test]
fn operators_convert_as_terraform() {
    assert_eq!(ok("\"1\" + 1"), Value::int(2));
    assert_eq!(ok("1 == \"1\""), Value::Bool(false));
    assert_eq!(ok("0.1 + 0.2 == 0.3"), Value::Bool(true));
    assert_eq!(ok("true ? 1 : \"a\""), Value::string("1"));
    assert!(eval_str("1 / 0", &scope()).is_err());
    assert!(eval_str("\"a\" + 1", &scope()).is_err());
}

#[test]
fn for_expressions_and_splats() {
    assert_eq!(json("[for x in var.names : upper(x)]"), r#"["A","B"]"#);
    assert_eq!(json("{for i, x in var.names : x => i}"), r#"{"a":0,"b":1}"#);
    assert_eq!(
        json("{for x in [\"a\",\"b\",\"a\"] : x => x...}"),
        r#"{"a":["a","a"],"b":["b"]}"#
    );
    assert!(eval_str("{for x in [\"a\",\"a\"] : x => x}", &scope()).is_err());
    assert_eq!(json("[{a=1},{a=2}][*].a"), "[1,2]");
    assert_eq!(json("[for x in range(5) : x if x % 2 == 0]"), "[0,2,4]");
}

#[test]
fn unknowns_carry_their_reason() {
    let v = ok("aws_instance.web.id");
    assert_eq!(
        v.first_unknown().map(|u| u.reason.as_str()),
        Some("known only after apply: aws_instance.web.id")
    );
    let v = ok("\"x-${var.missing}\"");
    assert_eq!(
        v.first_unknown().map(|u| u.reason.as_str()),
        Some("variable \"missing\" has no value")
    );
    assert!(ok("data.aws_ami.x.id").is_unknown());
    assert!(ok("upper(aws_instance.web.id)").is_unknown());
    assert!(ok("try(local.nope.x, \"d\")").is_unknown());
    assert_eq!(ok("try(var.names[5], \"d\")"), Value::string("d"));
    assert_eq!(ok("can(var.names[5])"), Value::Bool(false));
    // an unknown condition names what it waits for, not only that it is unknown
    let v = ok("length(data.aws_availability_zones.a.names) > 0 && var.n > 1 ? 1 : 0");
    let reason = v
        .first_unknown()
        .map(|u| u.reason.clone())
        .unwrap_or_default();
    assert!(
        reason.contains("data.aws_availability_zones.a.names"),
        "{reason}"
    );
}

#[test]
fn type_constraints_convert_variables() {
    let tc = |t: &str| parse_type_constraint(&hcl_edit::parser::parse_expr(t).unwrap()).unwrap();
    assert_eq!(
        convert(Value::string("2"), &tc("number")),
        Ok(Value::int(2))
    );
    assert!(convert(Value::string("x"), &tc("number")).is_err());
    assert_eq!(
        convert(ok("[1, \"a\"]"), &tc("list(string)")),
        Ok(Value::List(vec![Value::string("1"), Value::string("a")]))
    );
    let obj = tc("object({a = string, b = optional(number, 5), c = optional(bool)})");
    let v = convert(ok("{a = \"x\", extra = 1}"), &obj).unwrap();
    assert_eq!(
        super::functions::encoding::json_encode(&v),
        r#"{"a":"x","b":5,"c":null}"#
    );
    assert!(convert(ok("{b = 1}"), &obj).is_err());
    assert_eq!(
        convert(ok("[\"b\", \"a\", \"b\"]"), &tc("set(string)")),
        Ok(Value::Set(vec![Value::string("a"), Value::string("b")]))
    );
    // a set with unknown elements has no known length: as a list or tuple it is unknown
    let u = Value::unknown("r");
    let set = Value::set(vec![u.clone(), Value::string("a")]);
    assert_eq!(convert(set.clone(), &tc("list(string)")), Ok(u.clone()));
    assert_eq!(convert(set.clone(), &tc("tuple([string, string])")), Ok(u));
    assert!(matches!(
        convert(set, &tc("set(string)")),
        Ok(Value::Set(s)) if s.len() == 2
    ));
}

#[test]
fn heredocs() {
    // multi-line input cannot go through the console oracle: expected values written by hand
    assert_eq!(
        ok("<<EOT\nline ${1 + 1}\n  indented\nEOT"),
        Value::string("line 2\n  indented\n")
    );
    assert_eq!(
        ok("<<-EOT\n    a\n      b ${\"c\"}\n    EOT"),
        Value::string("a\n  b c\n")
    );
    assert_eq!(
        ok("<<EOT\n%{ for x in [1, 2] ~}\nitem ${x}\n%{ endfor ~}\nend\nEOT"),
        Value::string("item 1\nitem 2\nend\n")
    );
}

#[test]
fn borrowed_collection_arguments_behave_as_copies() {
    let mut s = scope();
    let m = BTreeMap::from([
        ("a".to_string(), Value::string("x")),
        (
            "b".to_string(),
            Value::unknown("known only after apply: t.b"),
        ),
    ]);
    s.set_var("m", Value::Object(m));
    s.set_each(Some((Value::string("a"), Value::Null)));
    let ev = |t: &str| eval_str(t, &s).unwrap();
    // a known element of a partly unknown map is known, as in Terraform
    assert_eq!(ev("lookup(var.m, each.key, \"d\")"), Value::string("x"));
    assert_eq!(ev("lookup(var.m, \"zz\", \"d\")"), Value::string("d"));
    assert!(ev("lookup(var.m, \"b\")").is_unknown());
    assert_eq!(ev("length(var.m)"), Value::int(2));
    assert_eq!(ev("element(var.names, 3)"), Value::string("b"));
    assert_eq!(ev("contains(var.names, \"b\")"), Value::Bool(true));
    assert_eq!(ev("index(var.names, \"b\")"), Value::int(1));
    assert!(eval_str("lookup(var.m, \"zz\")", &s).is_err());
    assert!(eval_str("length(var.m, 1)", &s).is_err());
    // the same through a copy (a function result) gives the same answers
    assert_eq!(ev("index(concat(var.names), \"b\")"), Value::int(1));
}
