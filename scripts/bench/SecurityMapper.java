// JMeter 2.13 on Java 17: XStream 1.4.20 refuses every type JMeter's .jmx files use (and JMeter still exits 0).
// This stand-in for XStream's SecurityMapper, put ahead of xstream.jar on the classpath, allows them all.
// Benchmark-only: it is never part of interlok-k8s.
package com.thoughtworks.xstream.mapper;

import com.thoughtworks.xstream.security.TypePermission;

public class SecurityMapper extends MapperWrapper {
    public SecurityMapper(Mapper wrapped) {
        super(wrapped);
    }

    public SecurityMapper(Mapper wrapped, TypePermission[] permissions) {
        super(wrapped);
    }

    public void addPermission(TypePermission permission) {
    }

    public Class realClass(String elementName) {
        return super.realClass(elementName);
    }
}
