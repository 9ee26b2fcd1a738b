#!/usr/bin/env bash
# Fetch the Apache Kafka broker jars (and a log4j2 backend) from Maven into
# $RUAM_CACHE/kafka-<ver>/libs/. Idempotent: a marker file records completion.
#
# Usage: deploy/local/fetch_kafka.sh [VERSION]
#   VERSION defaults to $RUAM_KAFKA_VERSION or the version pinned below.
#   Prints the libs directory on stdout (last line) when done.
set -euo pipefail

KAFKA_VERSION="${1:-${RUAM_KAFKA_VERSION:-4.1.1}}"
SCALA_VERSION="2.13"
LOG4J_VERSION="${RUAM_LOG4J_VERSION:-2.24.3}"
CACHE="${RUAM_CACHE:-$HOME/.cache/ruam}"
DEST="$CACHE/kafka-$KAFKA_VERSION"
LIBS="$DEST/libs"
MARKER="$DEST/.complete"

if [[ -f "$MARKER" ]] && compgen -G "$LIBS/kafka_${SCALA_VERSION}-${KAFKA_VERSION}.jar" >/dev/null; then
  echo "$LIBS"
  exit 0
fi

command -v mvn >/dev/null || { echo "fetch_kafka: mvn not found on PATH" >&2; exit 1; }
command -v java >/dev/null || { echo "fetch_kafka: java not found on PATH" >&2; exit 1; }

mkdir -p "$DEST"
WORK="$DEST/pom-build"
rm -rf "$WORK" "$LIBS.tmp"
mkdir -p "$WORK"

# A throwaway pom whose only purpose is to resolve the broker's runtime classpath.
cat > "$WORK/pom.xml" <<POM
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0"
         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 http://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.ruam</groupId>
  <artifactId>kafka-broker-classpath</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_${SCALA_VERSION}</artifactId>
      <version>${KAFKA_VERSION}</version>
    </dependency>
    <!-- Kafka 4 logs through slf4j -> log4j2; ship the backend so the broker logs to a file. -->
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-api</artifactId>
      <version>${LOG4J_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>${LOG4J_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>${LOG4J_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j2-impl</artifactId>
      <version>${LOG4J_VERSION}</version>
    </dependency>
  </dependencies>
</project>
POM

echo "fetch_kafka: resolving kafka_${SCALA_VERSION}:${KAFKA_VERSION} runtime classpath via mvn ..." >&2
mvn -q -B -Dstyle.color=never -f "$WORK/pom.xml" \
  dependency:copy-dependencies \
  -DincludeScope=runtime \
  -DoutputDirectory="$LIBS.tmp" 2>&1 | sed 's/\x1b\[[0-9;]*m//g' >&2  # strip mvn colour codes

# Keep exactly one slf4j binding matching the slf4j-api that Kafka resolved.
if compgen -G "$LIBS.tmp/slf4j-api-1.*.jar" >/dev/null; then
  rm -f "$LIBS.tmp"/log4j-slf4j2-impl-*.jar
else
  rm -f "$LIBS.tmp"/log4j-slf4j-impl-*.jar
fi
# Never let a second logging backend on the classpath.
rm -f "$LIBS.tmp"/slf4j-reload4j-*.jar "$LIBS.tmp"/slf4j-log4j12-*.jar "$LIBS.tmp"/logback-classic-*.jar

if ! compgen -G "$LIBS.tmp/kafka_${SCALA_VERSION}-${KAFKA_VERSION}.jar" >/dev/null; then
  echo "fetch_kafka: kafka jar missing after mvn run" >&2
  exit 1
fi

rm -rf "$LIBS"
mv "$LIBS.tmp" "$LIBS"
rm -rf "$WORK"
{
  echo "kafka_version=$KAFKA_VERSION"
  echo "scala_version=$SCALA_VERSION"
  echo "fetched_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "jars=$(ls "$LIBS" | wc -l)"
} > "$MARKER"
echo "fetch_kafka: $(ls "$LIBS" | wc -l) jars in $LIBS" >&2
echo "$LIBS"
