package local.chat.es;

import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.apache.logging.log4j.core.LoggerContext;
import org.apache.logging.log4j.core.config.Configurator;
import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.node.ClasspathPluginNode;
import org.elasticsearch.node.InternalSettingsPreparer;
import org.elasticsearch.node.Node;
import org.elasticsearch.transport.netty4.Netty4Plugin;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Runs one Elasticsearch node in this JVM, HTTP without security on 127.0.0.1.
 *
 * <pre>java -Xms1g -Xmx1g -cp 'lib/*:es-node.jar' local.chat.es.EsNode --home DIR
 *      [--http-port 9200] [--transport-port 9300] [--cluster-name chat-local] [--node-name es-local]</pre>
 *
 * Data, logs and the generated config live under DIR. SIGTERM (or SIGINT) closes the node and exits.
 */
public final class EsNode {

    private EsNode() {}

    public static void main(String[] args) throws Exception {
        Map<String, String> options = parseOptions(args);
        setJvmDefaults();
        Path home = Path.of(options.get("home")).toAbsolutePath();
        Path config = writeConfigDir(home);
        Settings settings = nodeSettings(home, options);

        Environment environment = InternalSettingsPreparer.prepareEnvironment(settings, Map.of(), config, () -> options.get("node-name"));
        LogConfigurator.setClusterName(options.get("cluster-name"));
        LogConfigurator.setNodeName(options.get("node-name"));
        LogConfigurator.configure(environment, true);
        Logger logger = LogManager.getLogger(EsNode.class);

        Node node = new ClasspathPluginNode(environment, List.of(Netty4Plugin.class, RootInfoPlugin.class, NgramAnalysisPlugin.class));
        CountDownLatch forever = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> close(node, logger), "es-node-shutdown"));
        try {
            node.start();
        } catch (Exception e) {
            logger.error("node failed to start", e);
            System.exit(1); // the shutdown hook closes whatever was started
        }
        logger.info("es-node ready on http://127.0.0.1:{}", options.get("http-port"));
        forever.await(); // ES threads are daemons: keep the JVM up until a signal arrives
    }

    static Settings nodeSettings(Path home, Map<String, String> options) {
        return Settings.builder()
            .put("cluster.name", options.get("cluster-name"))
            .put("node.name", options.get("node-name"))
            .put("path.home", home.toString())
            .put("path.data", home.resolve("data").toString())
            .put("path.logs", home.resolve("logs").toString())
            .put("http.host", "127.0.0.1")
            .put("http.port", options.get("http-port"))
            .put("transport.host", "127.0.0.1")
            .put("transport.port", options.get("transport-port"))
            .put("discovery.type", "single-node")
            // a nearly full disk must not make indices read-only or stop shard allocation
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .put("action.auto_create_index", true)
            .build();
    }

    /** What ES's jvm.options would set; set here so that the caller needs no -D flags. */
    private static void setJvmDefaults() {
        Map<String, String> defaults = Map.of(
            "log4j.shutdownHookEnabled", "false", // our hook logs while closing the node
            "log4j2.disable.jmx", "true",
            "log4j2.formatMsgNoLookups", "true",
            "io.netty.noUnsafe", "true",
            "io.netty.noKeySetOptimization", "true",
            "io.netty.recycler.maxCapacityPerThread", "0"
        );
        defaults.forEach((key, value) -> {
            if (System.getProperty(key) == null) {
                System.setProperty(key, value);
            }
        });
    }

    private static Path writeConfigDir(Path home) throws IOException {
        Path config = home.resolve("config");
        Files.createDirectories(config);
        try (InputStream log4j = EsNode.class.getResourceAsStream("/log4j2.properties")) {
            Files.copy(log4j, config.resolve("log4j2.properties"), StandardCopyOption.REPLACE_EXISTING);
        }
        return config;
    }

    private static void close(Node node, Logger logger) {
        try {
            logger.info("closing node");
            node.prepareForClose();
            node.close();
            if (node.awaitClose(10, TimeUnit.SECONDS) == false) {
                logger.warn("node did not close within 10s");
            }
        } catch (Exception e) {
            logger.error("error while closing node", e);
        } finally {
            Configurator.shutdown((LoggerContext) LogManager.getContext(false));
        }
    }

    private static Map<String, String> parseOptions(String[] args) {
        Map<String, String> options = new HashMap<>(
            Map.of("http-port", "9200", "transport-port", "9300", "cluster-name", "chat-local", "node-name", "es-local")
        );
        for (int i = 0; i < args.length; i += 2) {
            String name = args[i].startsWith("--") ? args[i].substring(2) : null;
            if (name == null || i + 1 >= args.length || (options.containsKey(name) == false && name.equals("home") == false)) {
                throw usage("bad argument: " + args[i]);
            }
            options.put(name, args[i + 1]);
        }
        if (options.containsKey("home") == false) {
            throw usage("--home is required");
        }
        return options;
    }

    private static IllegalArgumentException usage(String problem) {
        return new IllegalArgumentException(
            problem + "\nusage: EsNode --home DIR [--http-port 9200] [--transport-port 9300] [--cluster-name NAME] [--node-name NAME]"
        );
    }
}
