<#
.SYNOPSIS
  Installs what interlok-k8s needs on a Windows 10/11 workstation: chocolatey (if missing), minikube,
  kubectl (kubernetes-cli), helm (kubernetes-helm) and interlok-k8s itself, then checks the PATH order the way
  the wizard does (Docker Desktop's old kubectl shadowing the new one is the classic trap).
.EXAMPLE
  # in an elevated PowerShell ("Run as administrator")
  Set-ExecutionPolicy Bypass -Scope Process -Force; .\scripts\install-prereqs.ps1
#>
[CmdletBinding()]
param(
    # Install interlok-k8s with cargo from this checkout instead of a release download.
    [switch]$FromSource
)
$ErrorActionPreference = 'Stop'

$principal = [Security.Principal.WindowsPrincipal][Security.Principal.WindowsIdentity]::GetCurrent()
if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
    Write-Error 'Run this from an elevated PowerShell: right-click Windows PowerShell, "Run as administrator".'
    exit 1
}

if (-not (Get-Command choco -ErrorAction SilentlyContinue)) {
    Write-Host 'Installing chocolatey...'
    [System.Net.ServicePointManager]::SecurityProtocol = [System.Net.ServicePointManager]::SecurityProtocol -bor 3072
    Invoke-Expression ((New-Object System.Net.WebClient).DownloadString('https://community.chocolatey.org/install.ps1'))
    $env:Path = [Environment]::GetEnvironmentVariable('Path', 'Machine') + ';' + [Environment]::GetEnvironmentVariable('Path', 'User')
}

choco install minikube kubernetes-cli kubernetes-helm -y --no-progress
if ($LASTEXITCODE -ne 0) { Write-Error "choco install failed with exit code $LASTEXITCODE"; exit $LASTEXITCODE }
$env:Path = [Environment]::GetEnvironmentVariable('Path', 'Machine') + ';' + [Environment]::GetEnvironmentVariable('Path', 'User')

if ($FromSource) {
    cargo install --path (Join-Path $PSScriptRoot '..') --locked
} else {
    Write-Host 'Install interlok-k8s from a release into a folder on PATH, or rerun with -FromSource (needs Rust).'
}

# The same PATH-order check the wizard's kubectl-path stage does.
$found = @(Get-Command kubectl -All -ErrorAction SilentlyContinue | Where-Object { $_.CommandType -eq 'Application' })
$versions = foreach ($kubectl in $found) {
    $json = & $kubectl.Source version --client -o json 2>$null | ConvertFrom-Json
    [pscustomobject]@{ Path = $kubectl.Source; Version = [version]($json.clientVersion.gitVersion.TrimStart('v') -replace '[-+].*$', '') }
}
$versions | Format-Table -AutoSize
if ($versions.Count -gt 1) {
    $best = $versions | Sort-Object Version -Descending | Select-Object -First 1
    if ($versions[0].Version -lt $best.Version) {
        Write-Warning ("{0} ({1}) comes first on PATH and shadows {2} ({3}). Move {4} above {5} in the system PATH." -f `
            $versions[0].Path, $versions[0].Version, $best.Path, $best.Version, (Split-Path $best.Path), (Split-Path $versions[0].Path))
    }
}
Write-Host 'Next: interlok-k8s setup'
