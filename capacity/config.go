package capacity

import (
	"bytes"
	"fmt"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// UpdateConfig sets environments.<env>.autoscaling in a generator service
// config to the plan's HPA values, keeping the rest of the file, its
// comments among it, as written.
func (p Plan) UpdateConfig(src []byte, env string, in Input) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("not a mapping")
	}
	envs := child(doc.Content[0], "environments")
	if envs == nil || envs.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("no environments mapping")
	}
	e := child(envs, env)
	if e == nil {
		return nil, fmt.Errorf("no environment %q", env)
	}
	if e.Kind != yaml.MappingNode || e.Tag == "!!null" {
		*e = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	}
	lo, hi, target := p.hpaValues(in)
	value := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: yaml.FlowStyle}
	for _, kv := range [][2]string{{"minReplicas", strconv.Itoa(lo)}, {"maxReplicas", strconv.Itoa(hi)}, {"targetCPUUtilization", strconv.Itoa(target)}} {
		value.Content = append(value.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: kv[0]}, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: kv[1]})
	}
	if old := child(e, "autoscaling"); old != nil {
		value.LineComment = "from cutover capacity"
		*old = *value
	} else {
		e.Content = append(e.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "autoscaling"}, value)
		value.LineComment = "from cutover capacity"
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func child(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
