import java.lang.reflect.Field;

/**
 * Starts DynamoDB Local bound to one address (127.0.0.1 unless -Ddynamodb.local.host says otherwise). Its own
 * main (ServerRunner) builds a Jetty Server from a port alone, which listens on every interface, and it has no
 * host option: this launcher builds the same server from the same command line, sets the host on Jetty's
 * connectors before they open, then starts it. Reflection, so it compiles against the JDK alone; a DynamoDB
 * Local release that renames these members fails loudly here, never silently binding everywhere.
 *
 * It also stops DynamoDB Local cleanly when the JVM is asked to exit (SIGTERM: the local cloud's stop and the chaos
 * restart), which DynamoDB Local itself does not: its TransactWriteItems answers once the COMMIT is queued on its
 * single SQLite thread, not once it ran (SQLiteDBAccess.commitTransaction queues the job and returns; javap shows it),
 * and nothing drains that queue at exit — so a transaction answered just before the JVM halted could be gone after
 * the restart, an acknowledged write lost. The shutdown hook stops the server (no request is answered after it) and
 * closes its database, which runs every queued job before the SQLite thread ends, and waits for that thread.
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
    Runtime.getRuntime().addShutdownHook(new Thread(() -> drainOnExit(proxy), "dynamodb-local-drain"));
    proxy.getClass().getMethod("start").invoke(proxy);
  }

  /** How long the hook waits for the SQLite thread; the launcher's supervisor kills the JVM 3 s after SIGTERM. */
  private static final long DRAIN_WAIT_MS = 2000;

  private static void drainOnExit(Object proxy) {
    try {
      // DynamoDBProxyServer.stop: Jetty stops, then every database is closed (sqlite4java's SQLiteQueue.stop(true):
      // the jobs already queued still run).
      proxy.getClass().getMethod("stop").invoke(proxy);
    } catch (Exception e) {
      System.err.println("DynamoDbLocalLoopback: stopping DynamoDB Local at exit failed: " + e);
    }
    long deadline = System.currentTimeMillis() + DRAIN_WAIT_MS;
    for (Thread thread : Thread.getAllStackTraces().keySet()) {
      // sqlite4java names each queue's thread SQLiteQueue[<database file>].
      if (!thread.getName().startsWith("SQLiteQueue[")) continue;
      try {
        thread.join(Math.max(1, deadline - System.currentTimeMillis()));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
      if (thread.isAlive()) System.err.println("DynamoDbLocalLoopback: " + thread.getName() + " still busy at exit");
    }
  }
}
