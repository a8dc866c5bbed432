//! The expression engine against Terraform itself: every expression of the table goes through
//! the real `terraform console` (offline, in a folder with a few variables, locals and files)
//! and through tfops' evaluator; value (as `jsonencode` writes it), type (as `type()` prints
//! it) and failure must agree.
//!
//! `terraform console` prints only the last result when its input is not a terminal, so the
//! whole table is one expression per run: one run for the values
//! (`jsonencode([try(jsonencode(E), "!ERR"), …])`) and one for the types (`type([…])`).
//! Under CI (`CI` or `TFOPS_REQUIRE_TOOLS=1`) a missing Terraform ≥ 1.8 fails the test.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tfops::drift::eval::{self, Scope};
use tfops::drift::functions::encoding::json_encode;
use tfops::drift::value::Value;

/// The table: several expressions per function, with edge cases and conversions. Each must
/// evaluate to a known value or fail in both engines.
const CASES: &[&str] = &[
    // literals, numbers, operators
    r#"1"#,
    r#""1""#,
    r#"12345678901234567890"#,
    r#"12345678901234567890 + 1"#,
    r#"0.1 + 0.2"#,
    r#"1.10"#,
    r#"7 / 2"#,
    r#"-5 % 3"#,
    r#"5.5 % 2"#,
    r#"1e3"#,
    r#"2 * 3 - 1"#,
    r#""1" + 1"#,
    r#"1 == "1""#,
    r#"1 == 1.0"#,
    r#"[1] == [1]"#,
    r#"!true"#,
    r#"-(3)"#,
    r#"1 < 2 && "true""#,
    r#"false || null"#,
    r#""a" + 1"#,
    r#"1 / 0"#,
    r#"null == null"#,
    r#"{a = 1} == {a = 1}"#,
    r#"[1, "a"] == tolist(["1", "a"])"#,
    // templates
    r#""a${"b"}c""#,
    r#""${1 + 1}""#,
    r#""x${true}""#,
    r#""%{if true}yes%{else}no%{endif}""#,
    r#""%{for x in ["a", "b"]}<${x}>%{endfor}""#,
    r#""%{for k, v in {a = 1}}${k}=${v};%{endfor}""#,
    r#""a ${~ "b" ~} c""#,
    r#""%{if false}a%{endif}""#,
    r#""${"a"}${1}""#,
    r#""%{ if 1 == 1 ~} x %{~ endif }""#,
    r#""${null}""#,
    r#""${[1]}""#,
    r#""$${x}""#,
    // variables, locals, conditionals
    r#"var.n"#,
    r#"var.n + 1"#,
    r#"var.s"#,
    r#"var.list"#,
    r#"var.obj"#,
    r#"var.obj.b"#,
    r#"local.prefix"#,
    r#"local.names"#,
    r#""${local.prefix}-${var.n}""#,
    r#"true ? 1 : "a""#,
    r#"false ? 1 : 2"#,
    r#"var.n > 1 ? "many" : "one""#,
    r#"null ? 1 : 2"#,
    // for expressions, splats, index
    r#"[for x in ["a", "b"] : upper(x)]"#,
    r#"{for i, x in ["a", "b"] : x => i}"#,
    r#"{for x in ["a", "b", "a"] : x => x...}"#,
    r#"{for x in ["a", "a"] : x => x}"#,
    r#"[for x in range(6) : x * 2 if x % 2 == 0]"#,
    r#"[for k, v in {b = 1, a = 2} : "${k}${v}"]"#,
    r#"[{a = 1}, {a = 2}][*].a"#,
    r#"local.objs[*].name"#,
    r#"local.objs.*.name"#,
    r#"[1, 2, 3][1]"#,
    r#"{a = 1}["a"]"#,
    r#"[1, 2][5]"#,
    r#"{a = 1}.b"#,
    r#"[1, 2]["1"]"#,
    r#"[for s in toset(["b", "a"]) : s]"#,
    r#"toset([10, 9, 100])"#,
    r#"toset([true, false])"#,
    r#"{for k, v in {a = 1, b = 2} : v => k}"#,
    r#"[for i, v in ["x", "y"] : "${i}:${v}"]"#,
    r#"[for x in null : x]"#,
    r#"[for x in "abc" : x]"#,
    r#"[[1, 2], [3]][*][0]"#,
    r#"{a = [1, 2]}.a[1]"#,
    r#"null[*]"#,
    r#""a"[*]"#,
    r#"local.objs[1].name"#,
    r#"var.list[0]"#,
    r#"var.obj["a"]"#,
    // collection
    r#"length("héllo")"#,
    r#"length([1, 2])"#,
    r#"length({a = 1})"#,
    r#"length(toset([]))"#,
    r#"length(1)"#,
    r#"merge({a = 1}, {b = 2})"#,
    r#"merge({a = 1}, {a = "x"})"#,
    r#"merge(tomap({a = "1"}), tomap({b = "2"}))"#,
    r#"merge({a = 1}, null)"#,
    r#"concat([1], [2, 3])"#,
    r#"concat(tolist(["a"]), tolist(["b"]))"#,
    r#"concat([1], ["a"])"#,
    r#"lookup({a = 1}, "a", 0)"#,
    r#"lookup({a = 1}, "b", 0)"#,
    r#"lookup({a = 1}, "b")"#,
    r#"lookup(tomap({a = "x"}), "b", "d")"#,
    r#"element(["a", "b", "c"], 4)"#,
    r#"element([], 0)"#,
    r#"element(["a"], -1)"#,
    r#"keys({b = 1, a = 2})"#,
    r#"keys(tomap({b = 1}))"#,
    r#"values({b = 1, a = "x"})"#,
    r#"values(tomap({a = 1}))"#,
    r#"contains(["a", "b"], "b")"#,
    r#"contains([1, 2], "1")"#,
    r#"contains(["1"], 1)"#,
    // a list's or set's elements are compared without conversion
    r#"contains(tolist(["1"]), 1)"#,
    r#"contains(toset([1, 2]), "2")"#,
    r#"contains(tolist([1.5, 2]), 2)"#,
    r#"contains(tolist([{a = 1}]), {a = 1})"#,
    r#"contains(tolist([tomap({a = 1})]), {a = 1})"#,
    r#"contains(tolist([tolist(["a"])]), ["a"])"#,
    r#"distinct(["a", "b", "a"])"#,
    r#"distinct([1, "1"])"#,
    r#"flatten([[1, [2]], 3])"#,
    r#"flatten([])"#,
    r#"compact(["a", "", null, "b"])"#,
    r#"coalesce("", "a", "b")"#,
    r#"coalesce(null, 1, "x")"#,
    r#"coalesce(null, "")"#,
    r#"coalescelist([], ["a"])"#,
    r#"coalesce(tolist(["a"]), [])"#,
    r#"coalesce(tolist([]), ["x"])"#,
    r#"true ? tolist(["a"]) : []"#,
    r#"false ? toset(["a"]) : ["b", 1]"#,
    r#"zipmap(["a", "b"], [1, 2])"#,
    r#"zipmap(["a"], tolist([1]))"#,
    r#"zipmap(["a"], [])"#,
    r#"range(3)"#,
    r#"range(1, 4)"#,
    r#"range(10, 0, -3)"#,
    r#"range(0, 1, 0.25)"#,
    r#"range(1, 0, 1)"#,
    r#"one([])"#,
    r#"one(["a"])"#,
    r#"one([1, 2])"#,
    r#"setunion(["a"], ["b", "a"])"#,
    r#"setintersection(["a", "b"], ["b", "c"])"#,
    r#"setsubtract(["a", "b"], ["a"])"#,
    r#"setproduct(["a", "b"], [1, 2])"#,
    r#"chunklist(["a", "b", "c"], 2)"#,
    r#"chunklist([1, 2], 0)"#,
    r#"reverse([1, 2, 3])"#,
    r#"reverse(tolist(["a", "b"]))"#,
    r#"sort(["b", "a", "10", "9"])"#,
    r#"sort([3, 1])"#,
    r#"slice(["a", "b", "c"], 1, 3)"#,
    r#"slice(["a"], 0, 2)"#,
    r#"index(["a", "b"], "b")"#,
    r#"index(["a"], "z")"#,
    r#"index(tolist(["1", "2"]), 2)"#,
    r#"index(tolist([1, 2]), 2)"#,
    r#"index([1, 2], "2")"#,
    r#"alltrue([true, "true"])"#,
    r#"alltrue([])"#,
    r#"anytrue([false, true])"#,
    r#"anytrue([])"#,
    r#"transpose({a = ["1", "2"], b = ["2"]})"#,
    r#"matchkeys(["a", "b"], ["x", "y"], ["y"])"#,
    r#"sum([1, 2.5])"#,
    r#"sum([])"#,
    // type conversion
    r#"toset(["b", "a", "b"])"#,
    r#"toset([1, "a"])"#,
    r#"toset([1, true])"#,
    r#"tolist(["a", 1])"#,
    r#"tolist(toset([3, 1, 2]))"#,
    r#"tomap({a = 1, b = "x"})"#,
    // objects with different attributes unify as maps (terraform-aws-lambda's
    // allowed_triggers, a `map(any)` of such objects)
    r#"tomap({a = {p = "x", q = "y"}, b = {s = "z"}})"#,
    r#"tomap({a = {p = "x"}, b = {s = 1}})"#,
    r#"tomap({a = {p = "x"}, b = {s = [1]}})"#,
    r#"tomap({a = {p = "x"}, b = {p = "y"}})"#,
    r#"tolist([{a = "x"}, {b = "y"}])"#,
    r#"tolist([{a = "x"}, {b = true}, {}])"#,
    r#"true ? {a = 1} : {b = 2}"#,
    r#"false ? {a = 1} : {b = "x"}"#,
    r#"[for o in [{a = "x"}, {b = "y"}] : o]"#,
    r#"merge({a = {p = "x"}}, {b = {s = "z"}})"#,
    r#"tomap({a = {p = {x = 1}}, b = {q = {y = 2}}})"#,
    r#"false ? {a = 1, b = "y"} : {c = true}"#,
    r#"tolist([{a = 1}, {b = true}])"#,
    // tuples of different lengths unify as a list
    r#"tolist([{a = [1]}, {b = [1, 2]}, {c = ["x"]}])"#,
    r#"true ? [1] : ["a", "b"]"#,
    r#"false ? [1] : [2, 3]"#,
    r#"coalesce([1], ["a", 1])"#,
    r#"tomap({a = [1], b = [1, 2]})"#,
    r#"tolist([[1], [true, false]])"#,
    r#"tomap({a = [1], b = "x"})"#,
    r#"tostring(1.5)"#,
    r#"tostring(true)"#,
    r#"tostring(null)"#,
    r#"tostring([1])"#,
    r#"tonumber("12")"#,
    r#"tonumber("1e3")"#,
    r#"tonumber("0x10")"#,
    r#"tonumber(" 1")"#,
    r#"tonumber(null)"#,
    r#"tobool("true")"#,
    r#"tobool("yes")"#,
    r#"tobool(null)"#,
    r#"try(tonumber("x"), "fallback")"#,
    r#"try([1][3], [2][0])"#,
    r#"can(tonumber("x"))"#,
    r#"can(1)"#,
    // string
    r#"format("%s-%d", "a", 3)"#,
    r#"format("%05.2f|%-4s|", 3.14159, "ab")"#,
    r#"format("%q %v %t %%", "x", 1.5, true)"#,
    r#"format("%x %X %o %b", 255, 255, 8, 5)"#,
    r#"format("%s")"#,
    r#"format("%d", 1.5)"#,
    r#"format("%[2]s %[1]s", "a", "b")"#,
    r#"format("%5s|%-5d|%+d", "ab", 3, 4)"#,
    r#"format("%e", 1234.5)"#,
    r#"formatlist("%s=%s", ["a", "b"], "x")"#,
    r#"formatlist("%s", [])"#,
    r#"join(",", ["a", "b"], ["c"])"#,
    r#"join("-", [])"#,
    r#"join(",", [1, true])"#,
    r#"split(",", "a,b,,c")"#,
    r#"split(",", "")"#,
    r#"split("", "abc")"#,
    r#"replace("a-b-c", "-", "_")"#,
    r##"replace("a1b22", "/[0-9]+/", "#")"##,
    r#"replace("hello", "/(l+)/", "<$1>")"#,
    r#"lower("ÀB")"#,
    r#"upper("straße")"#,
    r#"title("hello world-foo_bar")"#,
    r#"trimspace("  a b \n")"#,
    r#"trim("?!a!?", "!?")"#,
    r#"trimprefix("abc", "ab")"#,
    r#"trimsuffix("abc", "bc")"#,
    r#"trimprefix("abc", "x")"#,
    r#"substr("hello world", 1, 4)"#,
    r#"substr("hello", -3, -1)"#,
    r#"substr("héllo", 1, 2)"#,
    r#"substr("abc", 5, 1)"#,
    r#"substr("abc", 0, 10)"#,
    r#"regex("[a-z]+", "123abc456")"#,
    r#"regex("(\\d+)-(\\d+)", "10-20")"#,
    r#"regex("(?P<y>\\d{4})-(?P<m>\\d{2})", "2024-05")"#,
    r#"regex("z", "abc")"#,
    r#"regexall("[a-z]", "a1b2")"#,
    r#"regexall("(\\d)", "a1b2")"#,
    r#"regexall("z", "abc")"#,
    r#"startswith("hello", "he")"#,
    r#"endswith("hello", "x")"#,
    r#"strrev("abc")"#,
    r#"indent(2, "a\nb\n")"#,
    r#"chomp("a\n\n")"#,
    r#"strcontains("hello", "ll")"#,
    // numeric
    r#"min(3, 1, 2)"#,
    r#"max(1, "5")"#,
    r#"max()"#,
    r#"abs(-2.5)"#,
    r#"ceil(1.2)"#,
    r#"floor(-1.2)"#,
    r#"pow(2, 10)"#,
    r#"pow(2, 0.5)"#,
    r#"pow(2, 70)"#,
    r#"signum(-3)"#,
    r#"parseint("ff", 16)"#,
    r#"parseint("-101", 2)"#,
    r#"parseint("zz", 36)"#,
    r#"parseint("12", 1)"#,
    r#"parseint("g", 16)"#,
    r#"log(8, 2)"#,
    r#"max(12345678901234567890, 1)"#,
    // encoding
    r#"jsonencode({b = [1, "x", true, null], a = "<&>"})"#,
    r#"jsonencode(1.5)"#,
    r#"jsondecode("{\"a\": [1, 2.5, \"x\", null, true]}")"#,
    r#"jsondecode("12345678901234567890")"#,
    r#"jsondecode("nope")"#,
    r#"base64encode("héllo")"#,
    r#"base64decode("aMOpbGxv")"#,
    r#"base64decode("!!")"#,
    r#"urlencode("a b&c=d/é~")"#,
    r#"csvdecode("a,b\n1,2\n\"x,y\",3\n")"#,
    r#"csvdecode("a,b\n1\n")"#,
    r#"yamlencode({a = 1, b = ["x", "y"], c = {d = true}})"#,
    r#"yamlencode("true")"#,
    r#"yamlencode([])"#,
    r#"yamldecode("a: 1\nb: [x, w]\nc: {d: true}\n")"#,
    r#"yamldecode("- 1\n- two\n")"#,
    // hash and crypto
    r#"md5("hello")"#,
    r#"sha1("hello")"#,
    r#"sha256("hello")"#,
    r#"sha512("hello")"#,
    r#"base64sha256("hello")"#,
    r#"base64sha512("")"#,
    r#"uuidv5("dns", "example.com")"#,
    r#"uuidv5("6ba7b811-9dad-11d1-80b4-00c04fd430c8", "x")"#,
    r#"uuidv5("nope", "x")"#,
    // network
    r#"cidrsubnet("10.0.0.0/16", 8, 2)"#,
    r#"cidrsubnet("10.1.2.3/16", 4, 15)"#,
    r#"cidrsubnet("10.0.0.0/16", 8, 256)"#,
    r#"cidrsubnet("fd00::/56", 8, 3)"#,
    r#"cidrhost("10.0.0.0/24", 5)"#,
    r#"cidrhost("10.0.0.0/24", -1)"#,
    r#"cidrhost("10.0.0.0/30", 9)"#,
    r#"cidrhost("fd00::/64", 10)"#,
    r#"cidrnetmask("10.0.0.0/20")"#,
    r#"cidrnetmask("fd00::/64")"#,
    r#"nonsensitive(sensitive("x"))"#,
    r#"filebase64sha256("hello.txt")"#,
    r#"cidrsubnets("10.0.0.0/16", 4, 4, 8, 4)"#,
    r#"cidrsubnets("10.0.0.0/30", 1, 1, 1)"#,
    // filesystem, relative to the folder
    r#"file("hello.txt")"#,
    r#"file("missing.txt")"#,
    r#"fileexists("hello.txt")"#,
    r#"fileexists("nope.txt")"#,
    r#"filebase64("hello.txt")"#,
    r#"filemd5("hello.txt")"#,
    r#"fileset(".", "*.txt")"#,
    r#"fileset(".", "**/*.txt")"#,
    r#"fileset("sub", "*")"#,
    r#"templatefile("t.tftpl", {name = "x", items = ["a", "b"]})"#,
    r#"templatefile("t.tftpl", {name = "x"})"#,
    r#"basename("a/b/c.txt")"#,
    r#"dirname("a/b/c.txt")"#,
    r#"dirname("c.txt")"#,
];

/// Cases whose value must agree but whose type may not: tfops' nulls and empty collections
/// carry no type of their own (Terraform's `tostring(null)` is a null *string*).
const TYPE_GAPS: &[&str] = &[
    "var.obj",
    r#"coalesce(tolist([]), ["x"])"#,
    "tostring(null)",
    "tonumber(null)",
    "tobool(null)",
    r#"formatlist("%s", [])"#,
    r#"regexall("z", "abc")"#,
];

const MAIN_TF: &str = r#"
variable "n" {
  type    = number
  default = "2"
}
variable "s" {
  type    = string
  default = 5
}
variable "list" {
  type    = list(string)
  default = [1, "a"]
}
variable "obj" {
  type = object({ a = string, b = optional(number, 7), c = optional(list(string)) })
  default = { a = "x" }
}
locals {
  prefix = "app"
  names  = ["a", "b"]
  objs   = [{ name = "x" }, { name = "y" }]
}
"#;

const TEMPLATE: &str = "Hello ${name}!\n%{ for i in items ~}\n- ${i}\n%{ endfor ~}\nend\n";

/// Terraform ≥ 1.8 (functions such as `strcontains`): `$TFOPS_TERRAFORM_CONSOLE`, else
/// `terraform` on PATH, else `$TFOPS_TERRAFORM`.
fn console_terraform() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("TFOPS_TERRAFORM_CONSOLE").map(PathBuf::from),
        common::which("terraform"),
        std::env::var_os("TFOPS_TERRAFORM").map(PathBuf::from),
    ];
    for c in candidates.into_iter().flatten() {
        let out = Command::new(&c).arg("version").output();
        if let Ok(o) = out {
            let v = String::from_utf8_lossy(&o.stdout);
            let minor = v
                .split_whitespace()
                .find_map(|w| w.strip_prefix("v1."))
                .and_then(|r| r.split('.').next())
                .and_then(|m| m.parse::<u32>().ok());
            if minor.is_some_and(|m| m >= 8) {
                return Some(c);
            }
        }
    }
    if common::tools_required() {
        panic!(
            "Terraform >= 1.8 is required here (CI): put it on PATH or set TFOPS_TERRAFORM_CONSOLE"
        );
    }
    eprintln!("SKIP: no Terraform >= 1.8 for the console oracle");
    None
}

fn console(tf: &Path, dir: &Path, expr: &str) -> String {
    use std::io::Write as _;
    let rc = dir.join(".terraformrc");
    std::fs::write(&rc, "").unwrap();
    let mut child = Command::new(tf)
        .arg("console")
        .current_dir(dir)
        .env("TF_CLI_CONFIG_FILE", &rc)
        .env("CHECKPOINT_DISABLE", "1")
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run terraform console");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{expr}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "terraform console failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Splits `tuple([a,b,])` (whitespace removed) into its element types.
fn split_types(s: &str) -> Vec<String> {
    let inner = s
        .strip_prefix("tuple([")
        .and_then(|r| r.strip_suffix("])"))
        .expect("a tuple type");
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in inner.chars() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn scope(dir: &Path) -> Scope {
    let mut s = Scope::new(dir);
    let body = hcl_edit::parser::parse_body(MAIN_TF).unwrap();
    for block in body.blocks() {
        if block.ident.as_str() == "variable" {
            let name = block.labels[0].as_str().to_string();
            let attr = |k: &str| {
                block
                    .body
                    .attributes()
                    .find(|a| a.key.as_str() == k)
                    .map(|a| a.value.clone())
            };
            let tc = eval::parse_type_constraint(&attr("type").unwrap()).unwrap();
            let dv = eval::eval(&attr("default").unwrap(), &s).unwrap();
            s.set_var(&name, eval::convert(dv, &tc).unwrap());
        }
    }
    for block in body.blocks() {
        if block.ident.as_str() == "locals" {
            for a in block.body.attributes() {
                let v = eval::eval(&a.value, &s).unwrap();
                s.set_local(a.key.as_str(), v);
            }
        }
    }
    s
}

#[test]
fn expressions_agree_with_terraform_console() {
    let Some(tf) = console_terraform() else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    std::fs::write(dir.join("main.tf"), MAIN_TF).unwrap();
    std::fs::write(dir.join("hello.txt"), "hello\n").unwrap();
    std::fs::write(dir.join("t.tftpl"), TEMPLATE).unwrap();
    std::fs::create_dir(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/b.txt"), "b").unwrap();
    std::fs::write(dir.join("sub/c.md"), "c").unwrap();

    let vals_expr = format!(
        "jsonencode([{}])",
        CASES
            .iter()
            .map(|c| format!("try(jsonencode({c}), \"!ERR\")"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let out = console(&tf, dir, &vals_expr);
    let quoted: String = serde_json::from_str(out.trim()).expect("a quoted string");
    let values: Vec<String> = serde_json::from_str(&quoted).expect("a JSON array of strings");
    assert_eq!(values.len(), CASES.len());

    let types_expr = format!(
        "type([{}])",
        CASES
            .iter()
            .map(|c| format!("try({c}, \"!ERR\")"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let out = console(&tf, dir, &types_expr);
    let flat: String = out.chars().filter(|c| !c.is_whitespace()).collect();
    let types = split_types(&flat);
    assert_eq!(types.len(), CASES.len(), "{flat}");

    let s = scope(dir);
    let mut failures = Vec::new();
    for (i, case) in CASES.iter().enumerate() {
        let want_v = &values[i];
        let want_t = &types[i];
        let got = eval::eval_str(case, &s);
        match (want_v.as_str(), got) {
            ("!ERR", Err(_)) => {}
            ("!ERR", Ok(v)) => failures.push(format!(
                "{case}\n    terraform: error\n    tfops:     {} : {}",
                json_encode(&v),
                v.ty()
            )),
            (_, Err(e)) => failures.push(format!(
                "{case}\n    terraform: {want_v} : {want_t}\n    tfops:     error: {e}"
            )),
            (_, Ok(v)) => {
                let gv = json_encode(&v);
                let gt = v.ty().to_string();
                let type_ok = &gt == want_t || TYPE_GAPS.contains(case);
                if v.first_unknown().is_some() || &gv != want_v || !type_ok {
                    failures.push(format!(
                        "{case}\n    terraform: {want_v} : {want_t}\n    tfops:     {gv} : {gt}"
                    ));
                }
            }
        }
    }
    println!(
        "terraform console oracle: {} expressions, {} agree",
        CASES.len(),
        CASES.len() - failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} expressions disagree with Terraform:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

const VARS_TF: &str = r#"
variable "n" {
  type    = number
  default = 1
}
variable "s" {
  default = "d"
}
variable "l" {
  type    = list(string)
  default = []
}
variable "m" {
  type    = map(number)
  default = {}
}
variable "o" {
  type    = object({ a = string, b = optional(number, 3) })
  default = { a = "dflt" }
}
"#;

/// `terraform console` with environment and arguments; the printed value as a string.
fn console_with(tf: &Path, dir: &Path, env: &[(&str, &str)], args: &[&str], expr: &str) -> String {
    use std::io::Write as _;
    let rc = dir.join(".terraformrc");
    std::fs::write(&rc, "").unwrap();
    let mut cmd = Command::new(tf);
    cmd.arg("console")
        .args(args)
        .current_dir(dir)
        .env("TF_CLI_CONFIG_FILE", &rc)
        .env("CHECKPOINT_DISABLE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run terraform console");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{expr}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "terraform console {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(String::from_utf8(out.stdout).unwrap().trim()).expect("a quoted string")
}

#[test]
fn variable_precedence_agrees_with_terraform() {
    use tfops::drift::vars::{self, CliArg, VarDecl};
    let Some(tf) = console_terraform() else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    std::fs::write(dir.join("main.tf"), VARS_TF).unwrap();
    std::fs::write(dir.join("terraform.tfvars"), "n = 2\ns = \"tfvars\"\n").unwrap();
    std::fs::write(
        dir.join("terraform.tfvars.json"),
        r#"{"n": "3", "m": {"x": "1"}}"#,
    )
    .unwrap();
    std::fs::write(dir.join("b.auto.tfvars"), "n = 5\n").unwrap();
    std::fs::write(
        dir.join("a.auto.tfvars.json"),
        r#"{"n": 4, "o": {"a": "auto"}}"#,
    )
    .unwrap();
    std::fs::write(dir.join("extra.tfvars"), "n = 6\nl = [1, \"f\"]\n").unwrap();
    let env = [
        ("TF_VAR_n", "10"),
        ("TF_VAR_s", "env"),
        ("TF_VAR_l", "[\"e\", 2]"),
        ("TF_VAR_o", "{ a = \"env\", b = \"7\" }"),
    ];
    let decls: Vec<VarDecl> = hcl_edit::parser::parse_body(VARS_TF)
        .unwrap()
        .blocks()
        .map(|b| VarDecl::from_block(b).unwrap())
        .collect();
    let expr = "jsonencode({n = var.n, s = var.s, l = var.l, m = var.m, o = var.o})";
    let runs: &[&[&str]] = &[
        &[],
        &["-var", "n=\"8\"", "-var-file", "extra.tfvars"],
        &[
            "-var-file",
            "extra.tfvars",
            "-var",
            "n=9",
            "-var",
            "m={y = \"2\"}",
        ],
        &["-var", "s=[1]", "-var", "o={a = 1}"],
    ];
    let env_pairs = vars::env_vars(env.iter().copied());
    for args in runs {
        let want = console_with(&tf, dir, &env, args, expr);
        let mut cli = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let v = it.next().unwrap();
            cli.push(if *a == "-var" {
                CliArg::Var(v.to_string())
            } else {
                CliArg::VarFile(PathBuf::from(v))
            });
        }
        let r = vars::resolve(&decls, dir, &env_pairs, &cli).unwrap();
        let obj = Value::Object(
            r.into_iter()
                .map(|(k, v)| (k, v.value))
                .collect::<std::collections::BTreeMap<_, _>>(),
        );
        assert_eq!(json_encode(&obj), want, "terraform console {args:?}");
    }
}

#[test]
fn module_tree_agrees_with_terraform_init() {
    use tfops::drift::modules::{discover, parse_manifest, ModuleDir};
    let Some(tf) = console_terraform() else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    let w = |p: &str, t: &str| {
        let p = r.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, t).unwrap();
    };
    w(
        "main.tf",
        "module \"a\" {\n  source = \"./mods/a\"\n  count = 2\n}\n",
    );
    w("mods/a/main.tf", "module \"b\" {\n  source = \"../b\"\n}\n");
    w("mods/b/main.tf", "module \"c\" {\n  source = \"./c\"\n}\n");
    w("mods/b/c/main.tf", "output \"o\" {\n  value = 1\n}\n");
    let rc = r.join(".terraformrc");
    std::fs::write(&rc, "").unwrap();
    let out = Command::new(&tf)
        .args(["init", "-backend=false", "-input=false", "-no-color"])
        .current_dir(r)
        .env("TF_CLI_CONFIG_FILE", &rc)
        .env("CHECKPOINT_DISABLE", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest = std::fs::read(r.join(".terraform/modules/modules.json")).unwrap();
    let theirs = parse_manifest(&manifest, r).unwrap();
    let ours: Vec<(String, PathBuf)> = discover(r)
        .unwrap()
        .iter()
        .flat_map(|c| c.walk())
        .map(|c| match &c.dir {
            ModuleDir::Local(p) => (c.path.join("."), p.clone()),
            other => panic!("{}: {other:?}", c.address()),
        })
        .collect();
    let theirs: Vec<(String, PathBuf)> = theirs.into_iter().collect();
    let mut ours = ours;
    ours.sort();
    assert_eq!(
        ours, theirs,
        "module keys and folders as terraform init records them"
    );
}
