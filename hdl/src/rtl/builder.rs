//! A small typed Verilog builder: modules, ports, declarations, assignments, always blocks and
//! instances hold expressions as trees, and one printer ([`Module::print`]) writes the text. The
//! block generators in [`crate::rtl`] never paste Verilog together from format strings, so every
//! emitted module has one shape (widths declared once, literals sized, operands parenthesized).

use std::fmt::Write;

/// A Verilog expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// A net, register or memory name.
    Id(String),
    /// An unsized decimal constant: an index or a repeat count, never a value.
    Int(u64),
    /// A sized decimal literal `W'dV`.
    Lit {
        /// Width in bits (>= 1).
        width: usize,
        /// Value (fits the width).
        value: u64,
    },
    /// `{n{e}}`.
    Repeat(usize, Box<Expr>),
    /// A unary operator.
    Unary(UnOp, Box<Expr>),
    /// A binary operator.
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `e[i]`: a bit of a vector or a word of a memory.
    Index(Box<Expr>, Box<Expr>),
    /// `e[hi:lo]`.
    Slice(Box<Expr>, usize, usize),
    /// `{a, b, ...}`, most significant first.
    Concat(Vec<Expr>),
    /// `c ? a : b`.
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `$signed(e)`.
    Signed(Box<Expr>),
}

/// Unary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    /// `!`, logical not.
    Not,
    /// `~`, bitwise not.
    BitNot,
    /// `&`, AND reduction.
    AndReduce,
}

/// Binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `%`.
    Rem,
    /// `<<`.
    Shl,
    /// `&`.
    And,
    /// `|`.
    Or,
    /// `^`.
    Xor,
    /// `&&`.
    LogAnd,
    /// `||`.
    LogOr,
    /// `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
}

impl BinOp {
    fn text(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Rem => "%",
            BinOp::Shl => "<<",
            BinOp::And => "&",
            BinOp::Or => "|",
            BinOp::Xor => "^",
            BinOp::LogAnd => "&&",
            BinOp::LogOr => "||",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
        }
    }

    /// Verilog's precedence, higher binds tighter: the printer adds parentheses only where
    /// they change the parse.
    fn precedence(self) -> u8 {
        match self {
            BinOp::Mul | BinOp::Rem => 10,
            BinOp::Add | BinOp::Sub => 9,
            BinOp::Shl => 8,
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => 7,
            BinOp::Eq | BinOp::Ne => 6,
            BinOp::And => 5,
            BinOp::Xor => 4,
            BinOp::Or => 3,
            BinOp::LogAnd => 2,
            BinOp::LogOr => 1,
        }
    }

    /// Whether `a op (b op c) == (a op b) op c` in Verilog, so that a right operand of the same
    /// operator needs no parentheses.
    fn associative(self) -> bool {
        matches!(
            self,
            BinOp::Add | BinOp::Mul | BinOp::And | BinOp::Or | BinOp::Xor | BinOp::LogAnd | BinOp::LogOr
        )
    }
}

/// `name`.
pub fn id(name: impl Into<String>) -> Expr {
    Expr::Id(name.into())
}

/// `width'dvalue` (`1'bvalue` for one bit), of the value's low `width` bits.
pub fn lit(width: usize, value: u64) -> Expr {
    debug_assert!(width >= 1, "a literal has at least one bit");
    // The value's low `width` bits, as Verilog truncates a sized literal: a constant that cannot
    // matter (an increment on a path never taken) stays legal, e.g. never `1'b2`.
    let value = if width >= 64 { value } else { value & ((1u64 << width) - 1) };
    Expr::Lit { width, value }
}

/// `1'b1` or `1'b0`.
pub fn bit(b: bool) -> Expr {
    lit(1, u64::from(b))
}

/// `{a, b, ...}`.
pub fn concat(parts: Vec<Expr>) -> Expr {
    Expr::Concat(parts)
}

/// `{n{e}}`.
pub fn repeat(n: usize, e: Expr) -> Expr {
    Expr::Repeat(n, Box::new(e))
}

/// `c ? a : b`.
pub fn cond(c: Expr, a: Expr, b: Expr) -> Expr {
    Expr::Cond(Box::new(c), Box::new(a), Box::new(b))
}

/// `$signed(e)`.
pub fn signed(e: Expr) -> Expr {
    Expr::Signed(Box::new(e))
}

/// `&{parts}`: an AND reduction, here only to mark bits as read for Verilator's `-Wall`.
pub fn and_reduce(e: Expr) -> Expr {
    Expr::Unary(UnOp::AndReduce, Box::new(e))
}

macro_rules! binops {
    ($($f:ident => $op:ident),* $(,)?) => {
        impl Expr {
            $(
                #[doc = concat!("[`BinOp::", stringify!($op), "`] of `self` and `rhs`.")]
                pub fn $f(self, rhs: Expr) -> Expr {
                    Expr::Binary(BinOp::$op, Box::new(self), Box::new(rhs))
                }
            )*
        }
    };
}

binops!(plus => Add, minus => Sub, times => Mul, modulo => Rem, shift_left => Shl, and => And, or => Or, xor => Xor,
    land => LogAnd, lor => LogOr, eq => Eq, ne => Ne, lt => Lt, le => Le, gt => Gt, ge => Ge);

impl Expr {
    /// `!self`.
    pub fn lnot(self) -> Expr {
        Expr::Unary(UnOp::Not, Box::new(self))
    }

    /// `~self`.
    pub fn bitnot(self) -> Expr {
        Expr::Unary(UnOp::BitNot, Box::new(self))
    }

    /// `self[i]`.
    pub fn at(self, i: Expr) -> Expr {
        Expr::Index(Box::new(self), Box::new(i))
    }

    /// `self[i]` with a constant index.
    pub fn bit(self, i: usize) -> Expr {
        Expr::Index(Box::new(self), Box::new(Expr::Int(i as u64)))
    }

    /// `self[hi:lo]`.
    pub fn slice(self, hi: usize, lo: usize) -> Expr {
        Expr::Slice(Box::new(self), hi, lo)
    }

    /// The operator precedence of the expression's top (primaries bind tightest).
    fn precedence(&self) -> u8 {
        match self {
            Expr::Binary(op, ..) => op.precedence(),
            Expr::Cond(..) => 0,
            _ => 20,
        }
    }

    fn print(&self, out: &mut String) {
        match self {
            Expr::Id(n) => out.push_str(n),
            Expr::Int(v) => {
                let _ = write!(out, "{v}");
            }
            Expr::Lit { width, value } if *width == 1 => {
                let _ = write!(out, "1'b{value}");
            }
            Expr::Lit { width, value } => {
                let _ = write!(out, "{width}'d{value}");
            }
            Expr::Repeat(n, e) => {
                let _ = write!(out, "{{{n}{{");
                e.print(out);
                out.push_str("}}");
            }
            Expr::Unary(op, e) => {
                out.push_str(match op {
                    UnOp::Not => "!",
                    UnOp::BitNot => "~",
                    UnOp::AndReduce => "&",
                });
                e.print_operand(out, 20);
            }
            Expr::Binary(op, a, b) => {
                let p = op.precedence();
                // `a && b || c` and `a & b | c` parse as meant, but read better parenthesized.
                let clear = |e: &Expr| match e {
                    Expr::Binary(o, ..) if o != op && o.precedence() <= BinOp::And.precedence() => 20,
                    _ => 0,
                };
                a.print_operand(out, p.max(clear(a)));
                let _ = write!(out, " {} ", op.text());
                // Left-associative operators: a right operand of equal precedence keeps its
                // parentheses unless the operator is associative.
                let same = matches!(&**b, Expr::Binary(o, ..) if *o == *op && op.associative());
                b.print_operand(out, (if same { p } else { p + 1 }).max(clear(b)));
            }
            Expr::Index(e, i) => {
                e.print_operand(out, 20);
                out.push('[');
                i.print(out);
                out.push(']');
            }
            Expr::Slice(e, hi, lo) => {
                e.print_operand(out, 20);
                let _ = write!(out, "[{hi}:{lo}]");
            }
            Expr::Concat(parts) => {
                out.push('{');
                for (i, p) in parts.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    p.print(out);
                }
                out.push('}');
            }
            Expr::Cond(c, a, b) => {
                c.print_operand(out, 1);
                out.push_str(" ? ");
                a.print_operand(out, 1);
                out.push_str(" : ");
                // `a ? b : c ? d : e` parses as `a ? b : (c ? d : e)`.
                b.print(out);
            }
            Expr::Signed(e) => {
                out.push_str("$signed(");
                e.print(out);
                out.push(')');
            }
        }
    }

    /// Prints `self` as an operand of an operator of precedence `min`, parenthesized if it binds
    /// less tightly.
    fn print_operand(&self, out: &mut String, min: u8) {
        if self.precedence() < min {
            out.push('(');
            self.print(out);
            out.push(')');
        } else {
            self.print(out);
        }
    }

    /// The expression as Verilog text.
    pub fn text(&self) -> String {
        let mut s = String::new();
        self.print(&mut s);
        s
    }
}

/// A procedural statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stmt {
    /// `lhs <= rhs;`.
    NonBlocking(Expr, Expr),
    /// `lhs = rhs;`.
    Blocking(Expr, Expr),
    /// `if (c) ... else ...`.
    If(Expr, Vec<Stmt>, Vec<Stmt>),
}

/// `lhs <= rhs;`.
pub fn nb(lhs: Expr, rhs: Expr) -> Stmt {
    Stmt::NonBlocking(lhs, rhs)
}

/// `if (c) then`.
pub fn if_(c: Expr, then: Vec<Stmt>) -> Stmt {
    Stmt::If(c, then, Vec::new())
}

/// `if (c) then else otherwise`.
pub fn if_else(c: Expr, then: Vec<Stmt>, otherwise: Vec<Stmt>) -> Stmt {
    Stmt::If(c, then, otherwise)
}

fn indent(out: &mut String, depth: usize) {
    out.extend(std::iter::repeat_n("  ", depth));
}

impl Stmt {
    /// Prints the statement on its own line at `depth`.
    fn print(&self, out: &mut String, depth: usize) {
        indent(out, depth);
        self.print_inline(out, depth);
    }

    /// Prints the statement from the current column.
    fn print_inline(&self, out: &mut String, depth: usize) {
        match self {
            Stmt::NonBlocking(l, r) | Stmt::Blocking(l, r) => {
                l.print(out);
                out.push_str(if matches!(self, Stmt::NonBlocking(..)) { " <= " } else { " = " });
                r.print(out);
                out.push_str(";\n");
            }
            Stmt::If(c, then, otherwise) => {
                out.push_str("if (");
                c.print(out);
                out.push_str(") ");
                // A lone assignment without an else stays on the `if` line.
                match (then.as_slice(), otherwise.is_empty()) {
                    ([s @ (Stmt::NonBlocking(..) | Stmt::Blocking(..))], true) => s.print_inline(out, depth),
                    _ => {
                        block(out, then, depth);
                        if otherwise.is_empty() {
                            out.push('\n');
                        } else if let [s @ Stmt::If(..)] = otherwise.as_slice() {
                            out.push_str(" else ");
                            s.print_inline(out, depth);
                        } else {
                            out.push_str(" else ");
                            block(out, otherwise, depth);
                            out.push('\n');
                        }
                    }
                }
            }
        }
    }
}

/// `begin ... end` (without the newline after `end`).
fn block(out: &mut String, body: &[Stmt], depth: usize) {
    out.push_str("begin\n");
    for s in body {
        s.print(out, depth + 1);
    }
    indent(out, depth);
    out.push_str("end");
}

/// A port direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// `input wire`.
    In,
    /// `output wire`.
    Out,
}

/// A module port: `width` None is a one-bit scalar, `Some(w)` a vector `[w-1:0]` (also for w = 1,
/// so that a bus of one bit is indexed like any other).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Port {
    /// Direction.
    pub dir: Dir,
    /// Name.
    pub name: String,
    /// Vector width, or None for a scalar.
    pub width: Option<usize>,
}

/// A module item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// `// text`.
    Comment(String),
    /// `/* verilator no_inline_module */`: Verilator keeps the module's code once for all its
    /// instances instead of copying it into each.
    NoInline,
    /// `wire [w-1:0] name = expr;` (or without the value, driven by an instance).
    Wire {
        /// Name.
        name: String,
        /// Vector width, or None for a scalar.
        width: Option<usize>,
        /// The continuous value.
        value: Option<Expr>,
    },
    /// `(* attr *) reg [w-1:0] name = init;`.
    Reg {
        /// Name.
        name: String,
        /// Vector width, or None for a scalar.
        width: Option<usize>,
        /// Power-up value (none where a block RAM's read register must map).
        init: Option<Expr>,
    },
    /// `(* attr *) reg [w-1:0] name [0:depth-1];` and, with a file, `initial $readmemh(file, name);`.
    Memory {
        /// Name.
        name: String,
        /// Word width.
        width: usize,
        /// Words.
        depth: usize,
        /// A synthesis attribute, e.g. `rom_style = "block"`.
        attr: Option<(String, String)>,
        /// The `$readmemh` file.
        file: Option<String>,
        /// Macros under whose absence alone the file is read (`` `ifndef `` each): a memory that
        /// synthesis must not see initialized (an SPRAM, loaded at run time) reads it only in
        /// simulation.
        unless: Vec<String>,
    },
    /// `assign lhs = rhs;`.
    Assign(Expr, Expr),
    /// `always @(posedge clock)`.
    Always(String, Vec<Stmt>),
    /// `always @(*)`.
    Comb(Vec<Stmt>),
    /// An instance with named connections; a `None` connection is left open (`.port()`).
    Instance {
        /// The module.
        module: String,
        /// The instance name.
        name: String,
        /// `(port, expression)` in order.
        conns: Vec<(String, Expr)>,
    },
}

/// A Verilog module under construction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Module {
    /// Name.
    pub name: String,
    /// Ports in order.
    pub ports: Vec<Port>,
    /// Body.
    pub items: Vec<Item>,
}

impl Module {
    /// An empty module.
    pub fn new(name: impl Into<String>) -> Self {
        Module { name: name.into(), ..Module::default() }
    }

    /// Adds a port; returns its name as an expression.
    pub fn port(&mut self, dir: Dir, name: &str, width: Option<usize>) -> Expr {
        self.ports.push(Port { dir, name: name.into(), width });
        id(name)
    }

    /// Adds a one-bit input.
    pub fn input(&mut self, name: &str) -> Expr {
        self.port(Dir::In, name, None)
    }

    /// Adds a one-bit output.
    pub fn output(&mut self, name: &str) -> Expr {
        self.port(Dir::Out, name, None)
    }

    /// Adds a `w`-bit input vector.
    pub fn input_bus(&mut self, name: &str, w: usize) -> Expr {
        self.port(Dir::In, name, Some(w))
    }

    /// Adds a `w`-bit output vector.
    pub fn output_bus(&mut self, name: &str, w: usize) -> Expr {
        self.port(Dir::Out, name, Some(w))
    }

    /// `// text`.
    pub fn comment(&mut self, text: &str) {
        self.items.push(Item::Comment(text.into()));
    }

    /// Asks Verilator to keep the module out of line (ignored by other tools).
    pub fn verilator_no_inline(&mut self) {
        self.items.push(Item::NoInline);
    }

    /// `wire name = value;` (one bit).
    pub fn wire1(&mut self, name: &str, value: Expr) -> Expr {
        self.items.push(Item::Wire { name: name.into(), width: None, value: Some(value) });
        id(name)
    }

    /// `wire [w-1:0] name = value;`.
    pub fn wire(&mut self, name: &str, w: usize, value: Expr) -> Expr {
        self.items.push(Item::Wire { name: name.into(), width: Some(w), value: Some(value) });
        id(name)
    }

    /// `wire [w-1:0] name;`, driven by an instance.
    pub fn net(&mut self, name: &str, w: Option<usize>) -> Expr {
        self.items.push(Item::Wire { name: name.into(), width: w, value: None });
        id(name)
    }

    /// `reg name = init;` (one bit).
    pub fn reg1(&mut self, name: &str, init: bool) -> Expr {
        self.items.push(Item::Reg { name: name.into(), width: None, init: Some(bit(init)) });
        id(name)
    }

    /// `reg [w-1:0] name = init;`, or without a power-up value.
    pub fn reg(&mut self, name: &str, w: usize, init: Option<u64>) -> Expr {
        self.items.push(Item::Reg { name: name.into(), width: Some(w), init: init.map(|v| lit(w, v)) });
        id(name)
    }

    /// A memory of `depth` words of `w` bits.
    pub fn memory(
        &mut self,
        name: &str,
        w: usize,
        depth: usize,
        attr: Option<(&str, &str)>,
        file: Option<&str>,
    ) -> Expr {
        self.items.push(Item::Memory {
            name: name.into(),
            width: w,
            depth,
            attr: attr.map(|(k, v)| (k.into(), v.into())),
            file: file.map(Into::into),
            unless: Vec::new(),
        });
        id(name)
    }

    /// [`Module::memory`] whose `$readmemh` is read only when none of the macros `unless` is
    /// defined.
    pub fn memory_unless(
        &mut self,
        name: &str,
        w: usize,
        depth: usize,
        attr: Option<(&str, &str)>,
        file: &str,
        unless: &[&str],
    ) -> Expr {
        self.items.push(Item::Memory {
            name: name.into(),
            width: w,
            depth,
            attr: attr.map(|(k, v)| (k.into(), v.into())),
            file: Some(file.into()),
            unless: unless.iter().map(|m| m.to_string()).collect(),
        });
        id(name)
    }

    /// `assign lhs = rhs;`.
    pub fn assign(&mut self, lhs: Expr, rhs: Expr) {
        self.items.push(Item::Assign(lhs, rhs));
    }

    /// `always @(posedge clock) body`.
    pub fn always(&mut self, clock: &str, body: Vec<Stmt>) {
        self.items.push(Item::Always(clock.into(), body));
    }

    /// An instance of `module` named `name`.
    pub fn instance(&mut self, module: &str, name: &str, conns: Vec<(&str, Expr)>) {
        let conns = conns.into_iter().map(|(p, e)| (p.to_string(), e)).collect();
        self.items.push(Item::Instance { module: module.into(), name: name.into(), conns });
    }

    /// The module's Verilog text.
    pub fn print(&self) -> String {
        let mut out = String::new();
        let _ = write!(out, "module {}", self.name);
        if self.ports.is_empty() {
            out.push_str(";\n");
        } else {
            out.push_str(" (\n");
            for (i, p) in self.ports.iter().enumerate() {
                let dir = match p.dir {
                    Dir::In => "input",
                    Dir::Out => "output",
                };
                let _ = write!(out, "  {dir} wire {}{}", range(p.width), p.name);
                out.push_str(if i + 1 == self.ports.len() { "\n" } else { ",\n" });
            }
            out.push_str(");\n");
        }
        for item in &self.items {
            print_item(&mut out, item);
        }
        out.push_str("endmodule\n");
        out
    }
}

/// `[w-1:0] ` for a vector, nothing for a scalar.
fn range(w: Option<usize>) -> String {
    w.map_or(String::new(), |w| format!("[{}:0] ", w.max(1) - 1))
}

fn print_item(out: &mut String, item: &Item) {
    match item {
        Item::Comment(t) => {
            let _ = writeln!(out, "  // {t}");
        }
        Item::NoInline => out.push_str("  /* verilator no_inline_module */\n"),
        Item::Wire { name, width, value } => {
            let _ = write!(out, "  wire {}{name}", range(*width));
            if let Some(v) = value {
                out.push_str(" = ");
                v.print(out);
            }
            out.push_str(";\n");
        }
        Item::Reg { name, width, init } => {
            let _ = write!(out, "  reg {}{name}", range(*width));
            if let Some(v) = init {
                out.push_str(" = ");
                v.print(out);
            }
            out.push_str(";\n");
        }
        Item::Memory { name, width, depth, attr, file, unless } => {
            out.push_str("  ");
            if let Some((k, v)) = attr {
                let _ = write!(out, "(* {k} = \"{v}\" *) ");
            }
            let _ = writeln!(out, "reg {}{name} [0:{}];", range(Some(*width)), depth.max(&1) - 1);
            if let Some(f) = file {
                for m in unless {
                    let _ = writeln!(out, "`ifndef {m}");
                }
                let _ = writeln!(out, "  initial $readmemh(\"{f}\", {name});");
                for _ in unless {
                    out.push_str("`endif\n");
                }
            }
        }
        Item::Assign(l, r) => {
            out.push_str("  assign ");
            l.print(out);
            out.push_str(" = ");
            r.print(out);
            out.push_str(";\n");
        }
        Item::Always(clock, body) => {
            let _ = write!(out, "  always @(posedge {clock}) ");
            print_body(out, body);
        }
        Item::Comb(body) => {
            out.push_str("  always @(*) ");
            print_body(out, body);
        }
        Item::Instance { module, name, conns } => {
            let _ = writeln!(out, "  {module} {name} (");
            for (i, (p, e)) in conns.iter().enumerate() {
                let _ = write!(out, "    .{p}(");
                e.print(out);
                out.push_str(if i + 1 == conns.len() { ")\n" } else { "),\n" });
            }
            out.push_str("  );\n");
        }
    }
}

/// An always block's body: one statement on the `always` line, several in `begin ... end`.
fn print_body(out: &mut String, body: &[Stmt]) {
    if let [s] = body {
        s.print_inline(out, 1);
    } else {
        block(out, body, 1);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_print_with_the_parentheses_verilog_needs() {
        let (a, b, c) = (id("a"), id("b"), id("c"));
        assert_eq!(a.clone().plus(b.clone()).times(c.clone()).text(), "(a + b) * c");
        assert_eq!(a.clone().times(b.clone()).plus(c.clone()).text(), "a * b + c");
        assert_eq!(a.clone().minus(b.clone().minus(c.clone())).text(), "a - (b - c)");
        assert_eq!(a.clone().plus(b.clone().plus(c.clone())).text(), "a + b + c");
        assert_eq!(a.clone().land(b.clone().lnot()).text(), "a && !b");
        assert_eq!(a.clone().eq(lit(3, 5)).land(b.clone().lt(lit(8, 200))).text(), "a == 3'd5 && b < 8'd200");
        assert_eq!(a.clone().land(b.clone()).lor(c.clone().lnot()).text(), "(a && b) || !c");
        assert_eq!(a.clone().and(b.clone()).or(a.clone().and(c.clone())).text(), "(a & b) | (a & c)");
        assert_eq!(a.clone().xor(b.clone()).xor(c.clone()).text(), "a ^ b ^ c");
        assert_eq!(a.clone().xor(b.clone()).bitnot().text(), "~(a ^ b)");
        assert_eq!(
            cond(a.clone(), b.clone(), cond(c.clone(), lit(1, 0), lit(2, 1))).text(),
            "a ? b : c ? 1'b0 : 2'd1"
        );
        assert_eq!(cond(a.clone().lor(b.clone()), b.clone(), c.clone()).text(), "a || b ? b : c");
        assert_eq!(cond(a.clone(), b.clone(), c.clone()).plus(lit(4, 1)).text(), "(a ? b : c) + 4'd1");
        assert_eq!(concat(vec![lit(3, 0), id("buf").slice(7, 3)]).text(), "{3'd0, buf[7:3]}");
        assert_eq!(repeat(4, id("x").bit(7)).text(), "{4{x[7]}}");
        assert_eq!(id("mem").at(id("rptr")).text(), "mem[rptr]");
        assert_eq!(signed(a.clone()).gt(signed(b.clone())).text(), "$signed(a) > $signed(b)");
        assert_eq!(and_reduce(concat(vec![bit(false), a.slice(9, 4)])).text(), "&{1'b0, a[9:4]}");
        assert_eq!(concat(vec![lit(2, 0), b]).shift_left(c).text(), "{2'd0, b} << c");
        // A literal keeps the low bits of its value, as Verilog truncates: always legal text.
        assert_eq!(lit(1, 2).text(), "1'b0");
        assert_eq!(lit(1, 3).text(), "1'b1");
        assert_eq!(lit(3, 9).text(), "3'd1");
    }

    #[test]
    fn a_module_prints_ports_declarations_and_blocks() {
        let mut m = Module::new("count");
        let clk = m.input("clock");
        let _ = clk;
        let rst = m.input("rst");
        let d = m.input_bus("d", 8);
        let q = m.output_bus("q", 8);
        m.comment("A counter.");
        let r = m.reg("r", 8, Some(0));
        let mem = m.memory("rom", 8, 4, Some(("rom_style", "logic")), Some("rom.mem"));
        let w = m.wire1("big", r.clone().gt(lit(8, 9)));
        m.always(
            "clock",
            vec![if_else(
                rst,
                vec![nb(r.clone(), lit(8, 0))],
                vec![if_else(w, vec![nb(r.clone(), d)], vec![nb(r.clone(), r.clone().plus(lit(8, 1)))])],
            )],
        );
        m.assign(q, mem.at(r.slice(1, 0)));
        m.instance("sub", "u0", vec![("a", id("x")), ("b", bit(true))]);
        m.verilator_no_inline();
        let want = "module count (
  input wire clock,
  input wire rst,
  input wire [7:0] d,
  output wire [7:0] q
);
  // A counter.
  reg [7:0] r = 8'd0;
  (* rom_style = \"logic\" *) reg [7:0] rom [0:3];
  initial $readmemh(\"rom.mem\", rom);
  wire big = r > 8'd9;
  always @(posedge clock) if (rst) begin
    r <= 8'd0;
  end else if (big) begin
    r <= d;
  end else begin
    r <= r + 8'd1;
  end
  assign q = rom[r[1:0]];
  sub u0 (
    .a(x),
    .b(1'b1)
  );
  /* verilator no_inline_module */
endmodule
";
        assert_eq!(m.print(), want);
    }

    #[test]
    fn a_lone_assignment_stays_on_its_if_line() {
        let mut m = Module::new("m");
        m.always("clock", vec![if_(id("en"), vec![nb(id("q"), id("d"))])]);
        m.always("clock", vec![nb(id("a"), id("b")), if_(id("c"), vec![nb(id("d"), id("e"))])]);
        assert_eq!(
            m.print(),
            "module m;\n  always @(posedge clock) if (en) q <= d;\n  always @(posedge clock) begin\n    a <= b;\n    if (c) d <= e;\n  end\nendmodule\n"
        );
    }
}
