import java.lang.reflect.Field;

/**
 * Starts DynamoDB Local bound to one address (127.0.0.1 unless -Ddynamodb.local.host says otherwise). Its own
 * main (ServerRunner) builds a Jetty Server from a port alone, which listens on every interface, and it has no
 * host option: this launcher builds the same server from the same command line, sets the host on Jetty's
 * connectors before they open, then starts it. Reflection, so it compiles against the JDK alone; a DynamoDB
 * Local release that renames these members fails loudly here, never silently binding everywhere.
 */
public final class DynamoDbLocalLoopback {
  public static void main(String[] args) throws Exception {
    String host = System.getProperty("dynamodb.local.host", "127.0.0.1");
    Class<?> runner = Class.forName("com.amazonaws.services.dynamodbv2.local.main.ServerRunner");
    Object proxy = runner.getMethod("createServerFromCommandLineArgs", String[].class).invoke(null, (Object) args);
    Field serverField = proxy.getClass().getDeclaredField("server");
    serverField.setAccessible(true);
    Object server = serverField.get(proxy);
    Object[] connectors = (Object[]) server.getClass().getMethod("getConnectors").invoke(server);
    if (connectors.length == 0) throw new IllegalStateException("DynamoDB Local's Jetty server has no connector");
    for (Object connector : connectors) {
      connector.getClass().getMethod("setHost", String.class).invoke(connector, host);
    }
    proxy.getClass().getMethod("start").invoke(proxy);
  }
}
