//! `cperf report --folded` read back: one collapsed stack per line, `process;root;…;leaf COUNT`, kernel
//! frames marked with a `_[k]` suffix.

/// One line of folded output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoldedStack {
    /// The process name (the line's first field).
    pub process: String,
    /// The user frames, root first (kernel frames, `…_[k]`, left out).
    pub user: Vec<String>,
    /// Whether the stack had kernel frames.
    pub kernel: bool,
    /// Samples.
    pub count: u64,
}

/// Parses folded output; panics on a line that is not `STACK COUNT`.
pub fn parse(text: &str) -> Vec<FoldedStack> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let (stack, count) = line.rsplit_once(' ').unwrap_or_else(|| panic!("not folded: {line:?}"));
            let count = count.parse().unwrap_or_else(|_| panic!("no count at the end of {line:?}"));
            let mut fields = stack.split(';');
            let process = fields.next().unwrap_or_default().to_owned();
            let (kernel, user): (Vec<&str>, Vec<&str>) = fields.partition(|f| f.ends_with("_[k]"));
            FoldedStack {
                process,
                user: user.into_iter().map(str::to_owned).collect(),
                kernel: !kernel.is_empty(),
                count,
            }
        })
        .collect()
}

impl FoldedStack {
    /// The user frames joined with `;`.
    pub fn user_text(&self) -> String {
        self.user.join(";")
    }
}
