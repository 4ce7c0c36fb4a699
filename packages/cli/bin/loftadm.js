#!/usr/bin/env node
import "../dist/loftadm.js";
