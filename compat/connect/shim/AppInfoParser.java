// compat/connect/shim/AppInfoParser.java -- owned by the connect suite (compat/connect/run.sh).
// Maven Central has no connect-file 4.4.0, so the suite loads connect-file 4.3.0 into the 4.4.0
// Connect runtime. Its connectors' version() calls
// org.apache.kafka.common.utils.AppInfoParser.getVersion(), which kafka-clients 4.4.0 moved to
// org.apache.kafka.common.utils.internals.AppInfoParser; without this class the runtime cannot
// load the plugin (NoClassDefFoundError). run.sh compiles it into a jar on the plugin's own
// path (plugin.path/connect-file/), next to connect-file-4.3.0.jar; nothing else sees it.
package org.apache.kafka.common.utils;

public final class AppInfoParser {
    private AppInfoParser() {}

    public static String getVersion() {
        return org.apache.kafka.common.utils.internals.AppInfoParser.getVersion();
    }
}
