package porter_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every command porter sends a host is built from string literals,
// constants and values passed through a quoting function: this test reads
// the code (not the tests) and finds, for every call of a Run, RunInput or
// RunScript method and every variable named like a command (cmd, script,
// prog), each operand that is none of those. An operand that is safe for a
// reason the test cannot see carries a "//porter:quoted WHY" comment on its
// line or the statement's.
func TestCommandsQuoteEveryValue(t *testing.T) {
	fset := token.NewFileSet()
	var files []*ast.File
	consts := map[string]bool{}
	funcs := map[string][]*ast.FuncDecl{}
	require.NoError(t, filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		// The benchmarks, test data and the test servers (which run what
		// a client sends) are not porter's commands.
		if d.IsDir() && (skipDirs[p] || strings.HasPrefix(d.Name(), ".")) && p != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		files = append(files, f)
		for _, decl := range f.Decls {
			if fd, ok := decl.(*ast.FuncDecl); ok && fd.Body != nil {
				funcs[fd.Name.Name] = append(funcs[fd.Name.Name], fd)
			}
		}
		for _, decl := range f.Decls {
			if gd, ok := decl.(*ast.GenDecl); ok && gd.Tok == token.CONST {
				for _, s := range gd.Specs {
					for _, n := range s.(*ast.ValueSpec).Names {
						consts[n.Name] = true
					}
				}
			}
		}
		return nil
	}))
	require.NotEmpty(t, files)
	marks := map[string]bool{}
	for _, f := range files {
		quotedMarks(fset, f, marks)
	}
	var bad []string
	checked := 0
	for _, f := range files {
		qc := &quoteChecker{fset: fset, consts: consts, funcs: funcs, marks: marks, seen: map[*ast.FuncDecl]bool{}}
		ast.Inspect(f, func(n ast.Node) bool {
			fn, ok := n.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				return true
			}
			qc.fn = fn
			for _, e := range qc.commands(fn.Body) {
				checked++
				bad = append(bad, qc.unsafe(e, 0)...)
			}
			return false
		})
	}
	assert.Greater(t, checked, 40, "the test finds the commands")
	assert.Empty(t, bad, "values put into commands without a quoting function")
}

var (
	quoteFuncs  = regexp.MustCompile(`^(Quote|q|quote|QuoteList|quoteList|shellQuote|shellWord|sq)$`)
	numberFuncs = map[string]bool{"Itoa": true, "FormatInt": true, "FormatUint": true}
	cmdNames    = regexp.MustCompile(`^(cmd|script|prog)$`)
	skipDirs    = map[string]bool{"internal/bench": true, "testdata": true, "portertest": true,
		"internal/sshdtest": true, "internal/dropbeartest": true, "examples": true}
	runMethods = map[string]bool{"Run": true, "RunInput": true, "RunScript": true}
)

type quoteChecker struct {
	fset   *token.FileSet
	consts map[string]bool
	funcs  map[string][]*ast.FuncDecl // the code's functions and methods, by name
	marks  map[string]bool            // "file:line" of each //porter:quoted comment
	fn     *ast.FuncDecl
	seen   map[*ast.FuncDecl]bool // builders checked already
}

// quotedMarks adds the lines of f that carry a //porter:quoted comment.
func quotedMarks(fset *token.FileSet, f *ast.File, out map[string]bool) {
	for _, cg := range f.Comments {
		for _, c := range cg.List {
			if strings.HasPrefix(c.Text, "//porter:quoted ") {
				pos := fset.Position(c.Pos())
				out[pos.Filename+":"+strconv.Itoa(pos.Line)] = true
			}
		}
	}
}

func (qc *quoteChecker) marked(pos token.Position) bool {
	return qc.marks[pos.Filename+":"+strconv.Itoa(pos.Line)] || qc.marks[pos.Filename+":"+strconv.Itoa(pos.Line-1)]
}

// commands returns the command expressions of body: the command argument
// of each Run-like call, and each value given to a command-named variable.
func (qc *quoteChecker) commands(body *ast.BlockStmt) []ast.Expr {
	var out []ast.Expr
	ast.Inspect(body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CallExpr:
			if sel, ok := n.Fun.(*ast.SelectorExpr); ok && runMethods[sel.Sel.Name] && len(n.Args) >= 2 {
				out = append(out, n.Args[1])
			}
		case *ast.AssignStmt:
			for i, lhs := range n.Lhs {
				if id, ok := lhs.(*ast.Ident); ok && cmdNames.MatchString(id.Name) && i < len(n.Rhs) && len(n.Lhs) == len(n.Rhs) {
					out = append(out, n.Rhs[i])
				}
			}
		}
		return true
	})
	return out
}

// unsafe returns where e puts a value into a command unquoted.
func (qc *quoteChecker) unsafe(e ast.Expr, depth int) []string {
	pos := qc.fset.Position(e.Pos())
	if qc.marked(pos) || depth > 8 {
		return nil
	}
	switch e := e.(type) {
	case *ast.BasicLit:
		return nil
	case *ast.ParenExpr:
		return qc.unsafe(e.X, depth)
	case *ast.BinaryExpr:
		return append(qc.unsafe(e.X, depth), qc.unsafe(e.Y, depth)...)
	case *ast.Ident:
		if qc.consts[e.Name] {
			return nil
		}
		return qc.resolve(e, depth)
	case *ast.SelectorExpr:
		if qc.consts[e.Sel.Name] {
			return nil
		}
	case *ast.CallExpr:
		name := ""
		switch f := e.Fun.(type) {
		case *ast.Ident:
			name = f.Name
		case *ast.SelectorExpr:
			name = f.Sel.Name
		}
		switch {
		case quoteFuncs.MatchString(name), numberFuncs[name]:
			return nil
		case name == "Command" || name == "CommandContext":
			return nil // a local program's argv: no shell
		case name == "Sprintf" || name == "String":
			var out []string
			for _, a := range e.Args {
				out = append(out, qc.unsafe(a, depth+1)...)
			}
			return out
		case len(qc.funcs[name]) > 0:
			var out []string
			bad, params := qc.builder(name, depth)
			for _, b := range bad {
				out = append(out, pos.String()+" "+name+"(): "+b)
			}
			// A parameter the builder puts in as it is: what this call
			// gives it must be safe.
			for _, i := range params {
				if i < len(e.Args) {
					out = append(out, qc.unsafe(e.Args[i], depth+1)...)
				}
			}
			return out
		}
	}
	return []string{pos.String() + ": " + types(e)}
}

// builder checks what the functions named name return: a command they
// build. It returns what is unsafe in them, and the indexes of the
// parameters they put into the command as they are (the callers' values
// for those are checked at each call).
func (qc *quoteChecker) builder(name string, depth int) (bad []string, params []int) {
	outer := qc.fn
	defer func() { qc.fn = outer }()
	for _, fd := range qc.funcs[name] {
		qc.fn = fd
		var found []string
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			if _, ok := n.(*ast.FuncLit); ok {
				return false
			}
			if r, ok := n.(*ast.ReturnStmt); ok && len(r.Results) > 0 {
				found = append(found, qc.unsafe(r.Results[0], depth+1)...)
			}
			return true
		})
		i := 0
		for _, field := range fd.Type.Params.List {
			for _, n := range field.Names {
				for j := 0; j < len(found); j++ {
					if strings.HasSuffix(found[j], ": "+n.Name+" (a parameter or a value from elsewhere)") {
						params = append(params, i)
						found = append(found[:j], found[j+1:]...)
						j--
					}
				}
				i++
			}
		}
		if !qc.seen[fd] {
			bad = append(bad, found...)
		}
		qc.seen[fd] = true
	}
	return bad, params
}

// resolve checks what a local variable was given in the function.
func (qc *quoteChecker) resolve(id *ast.Ident, depth int) []string {
	var out []string
	found := false
	ast.Inspect(qc.fn.Body, func(n ast.Node) bool {
		as, ok := n.(*ast.AssignStmt)
		if !ok || len(as.Lhs) != len(as.Rhs) {
			return true
		}
		for i, lhs := range as.Lhs {
			if l, ok := lhs.(*ast.Ident); ok && l.Name == id.Name {
				found = true
				out = append(out, qc.unsafe(as.Rhs[i], depth+1)...)
			}
		}
		return true
	})
	if !found {
		return []string{qc.fset.Position(id.Pos()).String() + ": " + id.Name + " (a parameter or a value from elsewhere)"}
	}
	return out
}

func types(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return types(e.X) + "." + e.Sel.Name
	case *ast.CallExpr:
		return types(e.Fun) + "(...)"
	case *ast.IndexExpr:
		return types(e.X) + "[...]"
	}
	return "an expression"
}
