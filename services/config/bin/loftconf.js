#!/usr/bin/env node
import "../dist/loftconf.js";
