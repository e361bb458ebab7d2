package org.elasticsearch.node;

import org.elasticsearch.env.Environment;
import org.elasticsearch.plugins.ClasspathPluginsService;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.plugins.PluginsLoader;
import org.elasticsearch.plugins.PluginsService;

import java.util.Collection;

/**
 * A real node (every service is the production one) whose plugins are classpath classes. Lives in
 * this package because the constructor taking a {@link NodeConstruction} and
 * {@link NodeServiceProvider} are package-private; ES's own MockNode uses the same hook.
 */
public class ClasspathPluginNode extends Node {

    public ClasspathPluginNode(Environment environment, Collection<Class<? extends Plugin>> plugins) {
        super(NodeConstruction.prepareConstruction(environment, null, new NodeServiceProvider() {
            @Override
            PluginsService newPluginService(Environment env, PluginsLoader ignored) {
                return new ClasspathPluginsService(env, plugins);
            }
        }, true));
    }
}
