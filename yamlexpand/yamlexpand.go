// Package yamlexpand resolves YAML anchors, aliases (*name) and merge keys
// (<<: *base) in a parsed go.yaml.in/yaml/v3 node tree, so that code walking
// yaml.Node values sees plain mappings, sequences and scalars. yaml.v3
// resolves them when it decodes into Go values, but not inside yaml.Node
// fields, where an alias would otherwise read as its anchor's name.
package yamlexpand

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// MaxAliasNodes caps the nodes that expanding aliases may create in one
// document, so that a "billion laughs" file (aliases of aliases, each
// doubling the tree) is an error, not a hang or an exhausted memory.
const MaxAliasNodes = 100_000

// Expand returns a copy of n with every alias replaced by (a copy of) the
// node it names and every merge key replaced by the entries it merges: the
// mapping's own keys win over merged ones, and of several merged mappings
// (<<: [*a, *b]) the earlier one wins, as YAML 1.1's merge key type says.
// The copy holds no anchors.
func Expand(n *yaml.Node) (*yaml.Node, error) {
	e := &expander{left: MaxAliasNodes}
	return e.node(n, false, 0)
}

type expander struct{ left int }

func (e *expander) node(n *yaml.Node, inAlias bool, depth int) (*yaml.Node, error) {
	if n == nil {
		return nil, nil
	}
	if inAlias {
		if e.left--; e.left < 0 {
			return nil, fmt.Errorf("line %d: YAML aliases expand to more than %d nodes", n.Line, MaxAliasNodes)
		}
	}
	if depth > 10_000 {
		return nil, fmt.Errorf("line %d: YAML nested or aliased more than 10000 levels deep", n.Line)
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return nil, fmt.Errorf("line %d: unknown anchor %q", n.Line, n.Value)
		}
		return e.node(n.Alias, true, depth+1)
	}
	c := *n
	c.Anchor, c.Alias = "", nil
	if n.Kind == yaml.MappingNode {
		return e.mapping(&c, inAlias, depth)
	}
	c.Content = make([]*yaml.Node, 0, len(n.Content))
	for _, x := range n.Content {
		y, err := e.node(x, inAlias, depth+1)
		if err != nil {
			return nil, err
		}
		c.Content = append(c.Content, y)
	}
	return &c, nil
}

func isMerge(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge"
}

// mapping expands the entries of c (a shallow copy of a mapping node).
func (e *expander) mapping(c *yaml.Node, inAlias bool, depth int) (*yaml.Node, error) {
	own := map[string]bool{}
	// yaml.v3 decodes a mapping whose own keys are all strings into a
	// map[string]any, merged keys included (0000000 stays "0000000"), and
	// any other into a map[any]any: merged keys keep that in the copy
	strs := true
	for i := 0; i+1 < len(c.Content); i += 2 {
		if k := c.Content[i]; !isMerge(k) && k.Kind == yaml.ScalarNode {
			own[k.Value] = true
		}
		if k := c.Content[i]; !isMerge(k) && k.ShortTag() != "!!str" {
			strs = false
		}
	}
	in := c.Content
	c.Content = make([]*yaml.Node, 0, len(in))
	aliased := map[[2]string]bool{} // the mapping's own scalar keys: whether each came from an alias
	for i := 0; i+1 < len(in); i += 2 {
		k, v := in[i], in[i+1]
		if !isMerge(k) {
			kx, err := e.node(k, inAlias, depth+1)
			if err != nil {
				return nil, err
			}
			if kx.Kind == yaml.ScalarNode {
				// yaml.v3 does not see a key that an alias repeats; the
				// copy would hold it twice and not decode
				key := [2]string{kx.ShortTag(), kx.Value}
				if was, dup := aliased[key]; dup && (was || k.Kind == yaml.AliasNode) {
					return nil, fmt.Errorf("line %d: the key %q is repeated through an alias", k.Line, kx.Value)
				}
				aliased[key] = k.Kind == yaml.AliasNode
			}
			vx, err := e.node(v, inAlias, depth+1)
			if err != nil {
				return nil, err
			}
			c.Content = append(c.Content, kx, vx)
			continue
		}
		vx, err := e.node(v, inAlias, depth+1)
		if err != nil {
			return nil, err
		}
		maps := []*yaml.Node{vx}
		if vx.Kind == yaml.SequenceNode {
			maps = vx.Content
		}
		for _, m := range maps {
			if m.Kind != yaml.MappingNode {
				return nil, fmt.Errorf("line %d: merge key << needs a mapping or a list of mappings", k.Line)
			}
			for j := 0; j+1 < len(m.Content); j += 2 {
				mk := m.Content[j]
				if mk.Kind == yaml.ScalarNode {
					if own[mk.Value] {
						continue
					}
					own[mk.Value] = true
					if strs && mk.ShortTag() != "!!str" {
						k := *mk
						k.Tag = "!!str"
						mk = &k
					}
				}
				c.Content = append(c.Content, mk, m.Content[j+1])
			}
		}
	}
	return c, nil
}
