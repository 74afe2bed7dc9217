// Checks Strimzi custom resources against Strimzi's own API model (io.strimzi:api from Maven
// Central, the classes its CRD schemas are generated from): every field must be one the model
// declares (no unknown property anywhere in the tree), enums and types must parse.
// Run by tests/deploy/test_schemas.py: java StrimziModelCheck FILE.yaml...
// Prints one line per problem and exits 1 if there is any.

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLParser;
import java.beans.Introspector;
import java.beans.PropertyDescriptor;
import java.io.File;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

public class StrimziModelCheck {
    static final Map<String, String> KINDS = Map.of(
            "Kafka", "io.strimzi.api.kafka.model.kafka.Kafka",
            "KafkaNodePool", "io.strimzi.api.kafka.model.nodepool.KafkaNodePool",
            "KafkaTopic", "io.strimzi.api.kafka.model.topic.KafkaTopic",
            "KafkaUser", "io.strimzi.api.kafka.model.user.KafkaUser");

    static final List<String> problems = new ArrayList<>();
    static int checked = 0;

    public static void main(String[] args) throws Exception {
        ObjectMapper yaml = new ObjectMapper(new YAMLFactory())
                .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
                .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
                .enable(DeserializationFeature.FAIL_ON_INVALID_SUBTYPE)
                .enable(DeserializationFeature.FAIL_ON_READING_DUP_TREE_KEY);
        for (String file : args) {
            YAMLParser parser = new YAMLFactory().createParser(new File(file));
            List<JsonNode> docs = yaml.readValues(parser, JsonNode.class).readAll();
            int i = 0;
            for (JsonNode doc : docs) {
                String where = file + "#" + i++;
                if (doc == null || !doc.has("kind") || !KINDS.containsKey(doc.get("kind").asText())) {
                    continue;
                }
                where += " " + doc.get("kind").asText() + "/" + doc.path("metadata").path("name").asText();
                try {
                    Class<?> cls = Class.forName(KINDS.get(doc.get("kind").asText()));
                    ObjectReader reader = yaml.readerFor(cls);
                    Object model = reader.readValue(doc);
                    walk(model, where, "", new IdentityHashMap<>());
                    checked++;
                } catch (Exception e) {
                    problems.add(where + ": " + e.getMessage().replace('\n', ' '));
                }
            }
        }
        for (String p : problems) {
            System.out.println(p);
        }
        System.out.println("checked " + checked + " resources, " + problems.size() + " problems");
        System.exit(problems.isEmpty() ? 0 : 1);
    }

    // Strimzi's model keeps fields it does not know in getAdditionalProperties() (it implements
    // UnknownPropertyPreserving) instead of failing: any entry there is an unknown field.
    static void walk(Object node, String where, String path, IdentityHashMap<Object, Boolean> seen) throws Exception {
        if (node == null || seen.containsKey(node)) {
            return;
        }
        seen.put(node, true);
        if (node instanceof Collection<?> c) {
            int i = 0;
            for (Object o : c) {
                if (o == null) {
                    // Strimzi's enums map a value they do not know to null
                    problems.add(where + ": unknown value at " + path + "[" + i + "]");
                }
                walk(o, where, path + "[" + i++ + "]", seen);
            }
            return;
        }
        if (node instanceof Map<?, ?> m) {
            for (Map.Entry<?, ?> e : m.entrySet()) {
                walk(e.getValue(), where, path + "." + e.getKey(), seen);
            }
            return;
        }
        String pkg = node.getClass().getPackageName();
        if (!pkg.startsWith("io.strimzi") && !pkg.startsWith("io.fabric8")) {
            return;
        }
        for (PropertyDescriptor pd : Introspector.getBeanInfo(node.getClass()).getPropertyDescriptors()) {
            Method get = pd.getReadMethod();
            if (get == null || get.getParameterCount() != 0 || pd.getName().equals("class")) {
                continue;
            }
            Object value;
            try {
                value = get.invoke(node);
            } catch (Exception e) {
                continue;
            }
            if (pd.getName().equals("additionalProperties")) {
                if (value instanceof Map<?, ?> extra && !extra.isEmpty()) {
                    problems.add(where + ": unknown field(s) " + extra.keySet() + " at " + (path.isEmpty() ? "." : path));
                }
                continue;
            }
            walk(value, where, path + "." + pd.getName(), seen);
        }
    }
}
