package esql

// Query is a parsed ES|QL query: a source command and processing commands.
type Query struct {
	Indexes  []string
	Metadata []string
	Commands []Command
	Text     string
}

// Command is one processing command.
type Command interface{ name() string }

type (
	// Where keeps rows whose condition is true.
	Where struct{ Cond Expr }
	// Eval adds or replaces columns.
	Eval struct{ Fields []Assign }
	// Stats aggregates rows, grouped by By.
	Stats struct {
		Aggs []Agg
		By   []Assign
	}
	// Keep keeps the columns matching the patterns, in pattern order.
	Keep struct{ Patterns []string }
	// Drop removes the columns matching the patterns.
	Drop struct{ Patterns []string }
	// Rename renames columns.
	Rename struct{ From, To []string }
	// Sort orders rows.
	Sort struct{ Keys []SortKey }
	// Limit keeps the first N rows.
	Limit struct{ N int }
	// MvExpand turns a multi-valued column into one row per value.
	MvExpand struct{ Field string }
	// Dissect splits a string column by a dissect pattern.
	Dissect struct {
		Input     Expr
		Pattern   *dissectPattern
		Separator string
	}
	// Grok extracts columns with a grok pattern.
	Grok struct {
		Input   Expr
		Pattern *grokPattern
	}
)

func (Where) name() string    { return "WHERE" }
func (Eval) name() string     { return "EVAL" }
func (Stats) name() string    { return "STATS" }
func (Keep) name() string     { return "KEEP" }
func (Drop) name() string     { return "DROP" }
func (Rename) name() string   { return "RENAME" }
func (Sort) name() string     { return "SORT" }
func (Limit) name() string    { return "LIMIT" }
func (MvExpand) name() string { return "MV_EXPAND" }
func (Dissect) name() string  { return "DISSECT" }
func (Grok) name() string     { return "GROK" }

// Assign is `name = expr` (or an expression named by its text).
type Assign struct {
	Name string
	Expr Expr
}

// Agg is one aggregate of STATS, with an optional WHERE filter.
type Agg struct {
	Name   string
	Func   string // upper case
	Arg    Expr   // nil for COUNT(*)
	Args   []Expr // further arguments
	Filter Expr
	// Expr is set when the aggregate is wrapped in scalar expressions over
	// aggregates (not supported yet) – kept nil.
}

// SortKey is one SORT key.
type SortKey struct {
	Expr       Expr
	Desc       bool
	NullsFirst bool
}

// Expr is an expression.
type Expr interface{ expr() }

type (
	// Field references a column or event field.
	Field struct{ Name string }
	// Lit is a constant.
	Lit struct{ V Value }
	// Call is a function call.
	Call struct {
		Name string // upper case
		Args []Expr
		Pos  int
	}
	// Binary is an arithmetic, comparison or logical operation.
	Binary struct {
		Op   string // + - * / % == != < <= > >= AND OR
		L, R Expr
	}
	// Not negates.
	Not struct{ X Expr }
	// Neg is unary minus.
	Neg struct{ X Expr }
	// IsNull is `x IS [NOT] NULL`.
	IsNull struct {
		X   Expr
		Not bool
	}
	// In is `x [NOT] IN (list)`.
	In struct {
		X    Expr
		List []Expr
		Not  bool
	}
	// Like is `x [NOT] LIKE|RLIKE pattern`.
	Like struct {
		X       Expr
		Pattern string
		Regex   bool
		Not     bool
		match   func(string) bool
	}
	// Cast is `x::type`.
	Cast struct {
		X    Expr
		Type string
	}
)

func (Field) expr()  {}
func (Lit) expr()    {}
func (Call) expr()   {}
func (Binary) expr() {}
func (Not) expr()    {}
func (Neg) expr()    {}
func (IsNull) expr() {}
func (In) expr()     {}
func (*Like) expr()  {}
func (Cast) expr()   {}

// Value is an ES|QL value: nil (null), string, int64, float64, bool,
// time.Time, time.Duration (a time span) or []Value (multi-valued).
type Value = any
