//! Names that end up in Verilog, Makefiles and tool scripts.
//!
//! A top-module name comes from the command line or from a build directory's `build.json`, which
//! anyone can edit, and is printed into Verilog (`module NAME`), a Makefile and Yosys' `-p` script.
//! [`VerilogIdent`] is the one place such a name is checked: a plain Verilog identifier that is no
//! keyword of Verilog or SystemVerilog and no name the emitted files already use, so that it can be
//! pasted anywhere without escaping. [`verilog_string`] quotes a file path for `$readmemh`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest accepted identifier: far beyond any real name, short enough for every tool.
pub const MAX_IDENT_LEN: usize = 128;

/// Verilog-2005 and SystemVerilog-2017 keywords (lower case; identifiers are case sensitive).
#[rustfmt::skip]
const KEYWORDS: &[&str] = &[
    "accept_on", "alias", "always", "always_comb", "always_ff", "always_latch", "and", "assert",
    "assign", "assume", "automatic", "before", "begin", "bind", "bins", "binsof", "bit", "break",
    "buf", "bufif0", "bufif1", "byte", "case", "casex", "casez", "cell", "chandle", "checker",
    "class", "clocking", "cmos", "config", "const", "constraint", "context", "continue", "cover",
    "covergroup", "coverpoint", "cross", "deassign", "default", "defparam", "design", "disable",
    "dist", "do", "edge", "else", "end", "endcase", "endchecker", "endclass", "endclocking",
    "endconfig", "endfunction", "endgenerate", "endgroup", "endinterface", "endmodule",
    "endpackage", "endprimitive", "endprogram", "endproperty", "endsequence", "endspecify",
    "endtable", "endtask", "enum", "event", "eventually", "expect", "export", "extends", "extern",
    "final", "first_match", "for", "force", "foreach", "forever", "fork", "forkjoin", "function",
    "generate", "genvar", "global", "highz0", "highz1", "if", "iff", "ifnone", "ignore_bins",
    "illegal_bins", "implements", "implies", "import", "incdir", "include", "initial", "inout",
    "input", "inside", "instance", "int", "integer", "interconnect", "interface", "intersect",
    "join", "join_any", "join_none", "large", "let", "liblist", "library", "local", "localparam",
    "logic", "longint", "macromodule", "matches", "medium", "modport", "module", "nand",
    "negedge", "nettype", "new", "nexttime", "nmos", "nor", "noshowcancelled", "not", "notif0",
    "notif1", "null", "or", "output", "package", "packed", "parameter", "pmos", "posedge",
    "primitive", "priority", "program", "property", "protected", "pull0", "pull1", "pulldown",
    "pullup", "pulsestyle_ondetect", "pulsestyle_onevent", "pure", "rand", "randc", "randcase",
    "randsequence", "rcmos", "real", "realtime", "ref", "reg", "reject_on", "release", "repeat",
    "restrict", "return", "rnmos", "rpmos", "rtran", "rtranif0", "rtranif1", "s_always",
    "s_eventually", "s_nexttime", "s_until", "s_until_with", "scalared", "sequence", "shortint",
    "shortreal", "showcancelled", "signed", "small", "soft", "solve", "specify", "specparam",
    "static", "string", "strong", "strong0", "strong1", "struct", "super", "supply0", "supply1",
    "sync_accept_on", "sync_reject_on", "table", "tagged", "task", "this", "throughout", "time",
    "timeprecision", "timeunit", "tran", "tranif0", "tranif1", "tri", "tri0", "tri1", "triand",
    "trior", "trireg", "type", "typedef", "union", "unique", "unique0", "unsigned", "until",
    "until_with", "untyped", "use", "uwire", "var", "vectored", "virtual", "void", "wait",
    "wait_order", "wand", "weak", "weak0", "weak1", "while", "wildcard", "wire", "with", "within",
    "wor", "xnor", "xor",
];

/// Module names the emitted files define themselves (`tb` is the testbench) or that Verilator
/// and the shim reserve (`Vdut` is the verilated class prefix).
const RESERVED: &[&str] = &["tb", "Vdut"];

/// A checked Verilog module name: `[A-Za-z_][A-Za-z0-9_]*`, at most [`MAX_IDENT_LEN`] characters,
/// no keyword, no reserved name, and no `$` (legal in Verilog, but it is how rust-hdl names the
/// submodules under a top, and a shell and Yosys script metacharacter).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct VerilogIdent(String);

/// Why a name is not a [`VerilogIdent`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{name:?} is not a usable Verilog module name: {why} (use letters, digits and '_', starting with a letter or '_', e.g. xnorflow_top)")]
pub struct IdentError {
    /// The name as given.
    pub name: String,
    /// What is wrong.
    pub why: String,
}

impl VerilogIdent {
    /// Checks `name`.
    pub fn new(name: &str) -> Result<Self, IdentError> {
        let bad = |why: String| Err(IdentError { name: name.to_string(), why });
        let mut chars = name.chars();
        match chars.next() {
            None => return bad("it is empty".into()),
            Some(c) if !(c.is_ascii_alphabetic() || c == '_') => return bad(format!("it starts with {c:?}")),
            _ => {}
        }
        if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '_')) {
            return bad(format!("it contains {c:?}"));
        }
        if name.len() > MAX_IDENT_LEN {
            return bad(format!(
                "it is {} characters long, at most {MAX_IDENT_LEN} are accepted",
                name.len()
            ));
        }
        if KEYWORDS.contains(&name) {
            return bad("it is a Verilog/SystemVerilog keyword".into());
        }
        if RESERVED.contains(&name) {
            return bad("the generated testbench or co-simulation uses that name".into());
        }
        Ok(VerilogIdent(name.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for VerilogIdent {
    type Error = IdentError;
    fn try_from(s: String) -> Result<Self, IdentError> {
        VerilogIdent::new(&s)
    }
}

impl From<VerilogIdent> for String {
    fn from(i: VerilogIdent) -> String {
        i.0
    }
}

impl std::str::FromStr for VerilogIdent {
    type Err = IdentError;
    fn from_str(s: &str) -> Result<Self, IdentError> {
        VerilogIdent::new(s)
    }
}

impl fmt::Display for VerilogIdent {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for VerilogIdent {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// `bytes` as a Verilog string literal, quotes included: printable ASCII but `"` and `\` as
/// itself, everything else (quotes, backslashes, newlines, bytes of other encodings) as a
/// three-digit octal escape, so a path can never end the literal or the statement.
pub fn verilog_string(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() + 2);
    s.push('"');
    for &b in bytes {
        if (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\' {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("\\{b:03o}"));
        }
    }
    s.push('"');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_checked() {
        for ok in ["xnorflow_top", "_x", "A1", "my_accel_2"] {
            assert_eq!(VerilogIdent::new(ok).expect(ok).as_str(), ok);
        }
        for bad in ["", "module", "wire", "tb", "1x", "x;rm", "x y", "a$b", "x\"", "é", "xnorflow_top; exec"]
        {
            let e = VerilogIdent::new(bad).expect_err(bad);
            assert!(e.to_string().contains("not a usable Verilog module name"), "{e}");
        }
        assert!(VerilogIdent::new(&"a".repeat(MAX_IDENT_LEN)).is_ok());
        assert!(VerilogIdent::new(&"a".repeat(MAX_IDENT_LEN + 1)).is_err());
        let e: Result<VerilogIdent, _> = serde_json::from_str("\"x; touch PWNED\"");
        assert!(e.is_err());
    }

    #[test]
    fn strings_cannot_escape_their_literal() {
        assert_eq!(verilog_string(b"/tmp/a b/w0.mem"), "\"/tmp/a b/w0.mem\"");
        let s = verilog_string(b"x\", mem); initial $system(\"touch P\"); \\\n$");
        assert_eq!(s.matches('"').count(), 2, "{s}");
        assert!(s.contains("\\042") && s.contains("\\134") && s.contains("\\012"), "{s}");
    }
}
